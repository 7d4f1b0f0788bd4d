"""Is the classification based on the object or on its surroundings?

Given an object box or mask per example, the share of an attribution map's mass that lies inside
the object says how much of the evidence comes from the object itself. Averaged per class and
over all examples, it becomes a verdict: when on average most of the mass lies *outside* the
objects, the model may be using the background (a watermark, a ruler beside a lesion, snow behind
a wolf). Without boxes, the share of mass in a strip along the image border is a weaker hint
(objects are usually not at the very edge).

Boxes come from a CSV ``id,x0,y0,x1,y1`` in pixels of the model's input (``x`` the column,
``y`` the row, ``x1``/``y1`` exclusive); masks from a folder holding one image per example, named
by its id (``DIR/<id>`` or ``DIR/<id>.png``), non-zero pixels being the object.

Example:
    >>> import numpy as np
    >>> m = np.zeros((1, 4, 4)); m[0, 0, 0] = 3.0; m[0, 2, 2] = 1.0
    >>> inside = box_mask((2, 2, 4, 4), 4, 4)[None]
    >>> mass_inside(m, inside).tolist()
    [0.25]
    >>> area = np.array([0.25, 0.25])
    >>> v = surroundings_verdict(np.array([0.25, 0.3]), np.array([0, 1]), ["a", "b"], area=area)
    >>> v["warning"] is not None, v["mean_inside"]
    (True, 0.275)
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.errors import DataError

__all__ = [
    "WARN_BELOW",
    "BORDER_HINT_ABOVE",
    "box_mask",
    "border_mask",
    "border_width",
    "mass_inside",
    "read_boxes",
    "read_masks",
    "surroundings_verdict",
    "border_hint",
]

#: The warning fires when, on average, less than this share of the mass lies inside the objects.
WARN_BELOW = 0.5
#: The border hint fires when more than this share of the mass lies in the border strip (which
#: covers less than half of the image, so spread-out attributions never reach it).
BORDER_HINT_ABOVE = 0.5

_BOX_COLUMNS = ("id", "x0", "y0", "x1", "y1")


def box_mask(box: tuple[int, int, int, int], h: int, w: int) -> np.ndarray:
    """A boolean ``(h, w)`` mask of the box ``(x0, y0, x1, y1)`` (``x1``/``y1`` exclusive)."""
    x0, y0, x1, y1 = box
    m = np.zeros((h, w), dtype=bool)
    m[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)] = True
    return m


def border_width(h: int, w: int) -> int:
    """Width in pixels of the border strip: 1/8 of the shorter side, at least 1.

    >>> border_width(28, 28), border_width(8, 8), border_width(32, 32)
    (3, 1, 4)
    """
    return max(1, min(h, w) // 8)


def border_mask(h: int, w: int) -> np.ndarray:
    """A boolean ``(h, w)`` mask of the strip of :func:`border_width` pixels along the edges."""
    b = border_width(h, w)
    m = np.ones((h, w), dtype=bool)
    m[b : h - b, b : w - b] = False
    return m


def mass_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per example, the share of the map's (non-negative) mass inside the mask; NaN for an
    all-zero map (no evidence anywhere says nothing about where it is)."""
    maps = np.clip(np.asarray(maps, dtype=np.float64), 0, None)
    masks = np.broadcast_to(np.asarray(masks, dtype=bool), maps.shape)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def _int(value: str, col: str, path: Path, line: int) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise DataError(f"{path}: line {line}: {col} must be a pixel coordinate, got {value!r}") from None


def read_boxes(path: str | Path, h: int, w: int) -> dict[str, tuple[int, int, int, int]]:
    """Boxes by example id from a CSV with columns ``id,x0,y0,x1,y1`` (pixels of the ``h`` x ``w``
    model input); a missing column, a non-number or a box outside the image is a :class:`DataError`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--boxes {p}: no such file (a CSV with columns {','.join(_BOX_COLUMNS)})")
    boxes: dict[str, tuple[int, int, int, int]] = {}
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _BOX_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"--boxes {p}: missing column(s) {', '.join(missing)}; expected {','.join(_BOX_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            x0, y0, x1, y1 = (_int(row[c] or "", c, p, line) for c in _BOX_COLUMNS[1:])
            if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                raise DataError(
                    f"{p}: line {line}: box ({x0}, {y0}, {x1}, {y1}) must satisfy 0 <= x0 < x1 <= {w} "
                    f"and 0 <= y0 < y1 <= {h} (pixels of the {h}x{w} model input, x1/y1 exclusive)"
                )
            boxes[str(row["id"])] = (x0, y0, x1, y1)
    if not boxes:
        raise DataError(f"--boxes {p}: no boxes in it")
    return boxes


def read_masks(folder: str | Path, ids: list[str], h: int, w: int) -> dict[str, np.ndarray]:
    """Object masks by id from ``folder`` (``<id>`` or ``<id>.png``; non-zero = object), resized
    to ``h`` x ``w`` (nearest); ids without a mask file are left out."""
    # lazy: Pillow loads only when mask files are read
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--masks {root}: no such folder (one mask image per example, named by its id)")
    out: dict[str, np.ndarray] = {}
    for i in ids:
        for cand in (root / i, root / f"{i}.png"):
            if cand.is_file():
                try:
                    with Image.open(cand) as img:
                        arr = np.asarray(img.convert("L").resize((w, h), Image.Resampling.NEAREST))
                except (OSError, UnidentifiedImageError) as exc:
                    raise DataError(f"--masks {cand}: not a readable image ({exc})") from exc
                out[i] = arr > 0
                break
    return out


def _mean(values: np.ndarray) -> float | None:
    ok = values[np.isfinite(values)]
    return float(ok.mean()) if len(ok) else None


def surroundings_verdict(
    inside: np.ndarray, true: np.ndarray, classes: list[str], area: np.ndarray | None = None
) -> dict[str, Any]:
    """Mean share of attribution mass inside the objects, overall and per true class, with a
    ``warning`` (a sentence, else None) when on average most of it lies outside."""
    inside = np.asarray(inside, dtype=np.float64)
    true = np.asarray(true)
    per_class: list[dict[str, Any]] = []
    for k, name in enumerate(classes):
        sel = true == k
        if sel.any():
            per_class.append(
                {
                    "class": name,
                    "examples": int(sel.sum()),
                    "mean_inside": _mean(inside[sel]),
                    "object_area": _mean(np.asarray(area)[sel]) if area is not None else None,
                }
            )
    mean = _mean(inside)
    outside = [
        c["class"] for c in per_class if c["mean_inside"] is not None and c["mean_inside"] < WARN_BELOW
    ]
    warning = None
    if mean is not None and mean < WARN_BELOW:
        warning = (
            f"on average {100 * (1 - mean):.0f}% of the attribution mass lies outside the object boxes "
            f"({len(inside)} examples): the model may be using the surroundings (background) rather "
            f"than the object" + (f"; classes most affected: {', '.join(outside[:5])}" if outside else "")
        )
    return {
        "mean_inside": mean,
        "object_area": _mean(np.asarray(area)) if area is not None else None,
        "per_class": per_class,
        "warn_below": WARN_BELOW,
        "warning": warning,
    }


def border_hint(maps: np.ndarray) -> dict[str, Any]:
    """Without boxes: the mean share of mass in the border strip, the strip's share of the area,
    and a ``hint`` sentence when most of the mass lies there."""
    maps = np.asarray(maps)
    h, w = maps.shape[-2:]
    mask = border_mask(h, w)
    share = _mean(mass_inside(maps, mask))
    area = float(mask.mean())
    hint = None
    if share is not None and share > BORDER_HINT_ABOVE:
        hint = (
            f"{100 * share:.0f}% of the attribution mass lies in the {border_width(h, w)}-pixel border "
            f"strip, which covers {100 * area:.0f}% of the image: the model may be using the "
            "surroundings; give object boxes (--boxes) or masks (--masks) to check"
        )
    return {"mean_border": share, "border_area": area, "border_px": border_width(h, w), "hint": hint}
