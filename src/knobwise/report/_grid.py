"""Example images tiled into one labelled PNG with Pillow: misclassified and low-confidence
examples, suspected label issues, attribution overlays, filters.

A grid is pixels and short labels, no axes: Pillow composes and encodes it in milliseconds, where
a matplotlib figure with one text per tile costs a large part of a second (most of a small run's
report). Small images are enlarged by whole factors with nearest-neighbour sampling, so every
pixel stays a sharp square, and each label is centred above its tile.

Example:
    >>> import numpy as np
    >>> fig = image_grid(np.zeros((3, 1, 8, 8)), ["0:1", "2:2", "7:1"], "demo", "A demo grid")
    >>> fig.png[:4] == b"\\x89PNG", fig.data["tiles"]
    (True, 3)
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from knobwise.report._figures import ReportFigure

__all__ = ["image_grid"]

#: Each tile is enlarged to about this many pixels wide (a whole factor; large images stay as
#: they are), wide enough to judge an 8x8 digit and to hold its label.
TILE_PX = 96
_LABEL_PX = 14
_GAP = 10


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=_LABEL_PX)


def _short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _tiles(images: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` in [0, 1] as ``(N, H*s, W*s, 3)`` uint8 RGB, enlarged by the whole factor ``s``."""
    n, c, h, w = images.shape
    rgb = np.repeat(images[:, :1], 3, axis=1) if c != 3 else images[:, :3]
    u8 = np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    s = max(1, TILE_PX // max(h, w))
    return np.moveaxis(u8, 1, -1).repeat(s, axis=1).repeat(s, axis=2)


def image_grid(
    images: np.ndarray, titles: Sequence[str], name: str, title: str, cols: int = 8
) -> ReportFigure:
    """Images ``(N, C, H, W)`` with values in ``[0, 1]`` (gray for one channel, RGB for three) in
    rows of ``cols``, each with its title (e.g. ``"true:pred"``) above it, as one PNG."""
    images = np.asarray(images, dtype=float)
    n = len(images)
    cols = min(cols, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    tiles = _tiles(images) if n else np.zeros((0, TILE_PX, TILE_PX, 3), np.uint8)
    th, tw = tiles.shape[1:3]
    font = _font()
    labels = [_short(t) for t in titles[:n]]
    widest = max((int(font.getlength(t)) for t in labels), default=0)
    cell_w, cell_h = max(tw, widest + 4) + _GAP, th + _LABEL_PX + 6 + _GAP
    canvas = Image.new("RGB", (cols * cell_w + _GAP, rows * cell_h + _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        r, q = divmod(i, cols)
        x0, y0 = _GAP + q * cell_w, _GAP + r * cell_h
        if i < len(labels):
            draw.text((x0 + (cell_w - _GAP) / 2, y0), labels[i], fill="black", font=font, anchor="mt")
        canvas.paste(Image.fromarray(tiles[i]), (x0 + (cell_w - _GAP - tw) // 2, y0 + _LABEL_PX + 6))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=False, compress_level=3)
    return ReportFigure(name=name, title=title, png=buf.getvalue(), alt=title, data={"tiles": n})
