"""Learning curves drawn with Pillow: loss and accuracy (train vs dev) and the learning rate per
epoch, three panels in one PNG.

Every run's report has this chart, and a small run's report is most of its fixed cost: matplotlib
takes about half a second to import and a few tenths to draw it, Pillow draws it in milliseconds.
The chart keeps the report's style (:mod:`knobwise.report._figures`): the Okabe-Ito palette,
named axes, a light grid, train solid and dev dashed, markers on every epoch, a log scale where
positive values span more than a factor of 20, dotted lines at the epochs where a knob was
changed (``knob_change``). Lines are drawn at twice the size and scaled down, which smooths them
(Pillow does not antialias lines).

Example:
    >>> hist = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "lr": 0.1},
    ...         {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.7, "lr": 0.05}]
    >>> fig = learning_curves(hist)
    >>> fig.name, fig.png[:4] == b"\\x89PNG", fig.data["panels"]["loss"]["series"]
    ('learning_curves', True, {'train': 2, 'dev': 2})
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from knobwise.report._figures import PALETTE, ReportFigure

__all__ = ["history_column", "learning_curves", "log_scale", "nice_ticks"]

_S = 2  # drawn at twice the size, then scaled down
_PANEL_W, _H = 500, 400  # final pixels of one panel
_LEFT, _RIGHT, _TOP, _BOTTOM = 80, 18, 40, 62  # plot area margins inside a panel
_GRID, _INK, _FRAME = (225, 225, 225), (30, 30, 30), (90, 90, 90)
_TRAIN, _DEV, _LR, _KNOB = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[6]
_DASHED, _DOTTED = (9, 5), (3, 4)  # (on, off) in final pixels
#: The panels: their key in ``data``, y label, title, whether a log axis may be chosen, legend at
#: the top (curves that fall) or bottom (curves that rise), and (label, column, colour, dash) series.
_PANELS = (
    ("loss", "loss", "loss: train vs dev", True, True,
     (("train", "loss", _TRAIN, None), ("dev", "val_loss", _DEV, _DASHED))),
    ("accuracy", "accuracy", "accuracy: train vs dev", False, False,
     (("train", "accuracy", _TRAIN, None), ("dev", "val_accuracy", _DEV, _DASHED))),
    ("lr", "learning rate", "learning rate per epoch", True, True, (("learning rate", "lr", _LR, None),)),
)  # fmt: skip


@functools.lru_cache(maxsize=4)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px * _S)


def history_column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """A history column as floats; missing, empty or non-numeric cells are NaN (a gap in a line).

    >>> history_column([{"loss": 1}, {"loss": ""}, {}], "loss").tolist()
    [1.0, nan, nan]
    """
    out = []
    for r in rows:
        v = r.get(key)
        try:
            out.append(float(v) if v not in (None, "") else math.nan)
        except (TypeError, ValueError):
            out.append(math.nan)
    return np.asarray(out, dtype=float)


def log_scale(values: np.ndarray) -> bool:
    """A log axis when the finite values are all positive and span more than a factor of 20.

    >>> log_scale(np.array([0.1, 0.001])), log_scale(np.array([0.5, 0.9, np.nan]))
    (True, False)
    """
    v = values[np.isfinite(values)]
    return bool(v.size and (v > 0).all() and v.max() / v.min() > 20)


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering
    ``[lo, hi]``; whole numbers only with ``integer``.

    >>> nice_ticks(0.12, 0.97)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> nice_ticks(1, 15, integer=True)
    [0.0, 5.0, 10.0, 15.0]
    """
    if not hi > lo:  # one value: a band around it (a constant learning rate stays positive)
        pad = 1.0 if integer else abs(lo) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, float(round(step)))
    start = math.floor(lo / step + 1e-9) * step
    ticks = [start]
    while ticks[-1] < hi - step * 1e-9 or len(ticks) < 2:  # the last tick at or above hi
        ticks.append(start + len(ticks) * step)
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**k for k in range(first, max(last, first + 1) + 1)]


def _label(v: float) -> str:
    return f"{v:.3g}"


class _Panel:
    """One plot area: data coordinates to pixels (at the drawing scale), axes, grid and lines."""

    def __init__(
        self, draw: ImageDraw.ImageDraw, x0: int, x: np.ndarray, ys: list[np.ndarray], log: bool
    ) -> None:
        self.draw, self.log = draw, log
        self.left, self.right = (x0 + _LEFT) * _S, (x0 + _PANEL_W - _RIGHT) * _S
        self.top, self.bottom = _TOP * _S, (_H - _BOTTOM) * _S
        finite_x = x[np.isfinite(x)]
        self.xticks = nice_ticks(float(finite_x.min()), float(finite_x.max()), 6, integer=True)
        values = np.concatenate(ys) if ys else np.zeros(0)
        values = values[np.isfinite(values)]
        if log:
            self.yticks = _log_ticks(float(values.min()), float(values.max()))
        elif values.size:
            self.yticks = nice_ticks(float(values.min()), float(values.max()))
        else:
            self.yticks = [0.0, 1.0]
        self.x_lo, self.x_hi = self.xticks[0], self.xticks[-1]
        lo, hi = self.yticks[0], self.yticks[-1]
        self.y_lo, self.y_hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)

    def px(self, x: float, y: float) -> tuple[float, float]:
        fy = math.log10(y) if self.log else y
        u = (x - self.x_lo) / ((self.x_hi - self.x_lo) or 1.0)
        v = (fy - self.y_lo) / ((self.y_hi - self.y_lo) or 1.0)
        return self.left + u * (self.right - self.left), self.bottom - v * (self.bottom - self.top)

    def axes(self, xlabel: str, ylabel: str, title: str, image: Image.Image) -> None:
        d, tick = self.draw, _font(13)
        for t in self.yticks:
            _, y = self.px(self.x_lo, t)
            d.line([(self.left, y), (self.right, y)], fill=_GRID, width=_S)
            d.text((self.left - 8 * _S, y), _label(t), fill=_INK, font=tick, anchor="rm")
        for t in self.xticks:
            x, _ = self.px(t, self.yticks[0])
            d.line([(x, self.top), (x, self.bottom)], fill=_GRID, width=_S)
            d.text((x, self.bottom + 8 * _S), _label(t), fill=_INK, font=tick, anchor="mt")
        frame = [(self.left, self.top), (self.left, self.bottom), (self.right, self.bottom)]
        d.line(frame, fill=_FRAME, width=_S)
        middle = (self.left + self.right) / 2
        d.text((middle, (_H - 8) * _S), xlabel, fill=_INK, font=_font(14), anchor="md")
        d.text((middle, 12 * _S), title, fill=_INK, font=_font(15), anchor="mt")
        # The y label, turned a quarter: drawn on its own image and pasted.
        box = _font(14).getbbox(ylabel)
        label = Image.new("RGBA", (int(box[2]) + 4 * _S, int(box[3]) + 4 * _S), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((2 * _S, 2 * _S), ylabel, fill=_INK, font=_font(14))
        label = label.rotate(90, expand=True)
        x0 = self.left - (_LEFT - 6) * _S
        image.paste(label, (int(x0), int((self.top + self.bottom - label.height) / 2)), label)

    def line(self, x: np.ndarray, y: np.ndarray, color: str, dash: tuple[int, int] | None) -> int:
        """Draw a series (a NaN breaks the line); returns how many points it has."""
        ok = np.isfinite(x) & np.isfinite(y) & ((y > 0) if self.log else True)
        pts = [self.px(float(a), float(b)) if good else None for a, b, good in zip(x, y, ok, strict=True)]
        for p, q in zip(pts, pts[1:], strict=False):
            if p is not None and q is not None:
                self.segment(p, q, color, dash)
        r = (4 if len(pts) <= 30 else 2.5) * _S  # smaller markers where epochs are many
        for p in pts:
            if p is not None:
                self.draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=color)
        return int(ok.sum())

    def segment(
        self,
        p: tuple[float, float],
        q: tuple[float, float],
        color: str,
        dash: tuple[int, int] | None,
        width: int = 2 * _S,
    ) -> None:
        """A line from ``p`` to ``q``, solid or in ``dash`` = (on, off) pixels."""
        if dash is None:
            self.draw.line([p, q], fill=color, width=width)
            return
        length = math.dist(p, q)
        on, off = dash[0] * _S, dash[1] * _S

        def at(d: float) -> tuple[float, float]:
            return p[0] + (q[0] - p[0]) * d / length, p[1] + (q[1] - p[1]) * d / length

        d = 0.0
        while d < length:
            self.draw.line([at(d), at(min(d + on, length))], fill=color, width=width)
            d += on + off

    def vline(self, x: float, color: str) -> None:
        px, _ = self.px(x, self.yticks[0])
        self.segment((px, self.top), (px, self.bottom), color, _DOTTED, width=_S + 1)

    def legend(self, entries: list[tuple[str, str, tuple[int, int] | None]], upper: bool) -> None:
        font = _font(13)
        rows = 20 * _S
        width = (40 + max(int(font.getlength(name) / _S) for name, _, _ in entries) + 16) * _S
        height = rows * len(entries) + 10 * _S
        x1 = self.right - 8 * _S
        y0 = self.top + 8 * _S if upper else self.bottom - 8 * _S - height
        self.draw.rectangle([x1 - width, y0, x1, y0 + height], fill="white", outline=_GRID, width=_S)
        for i, (name, color, dash) in enumerate(entries):
            y = y0 + 5 * _S + rows * i + rows / 2
            self.segment((x1 - width + 8 * _S, y), (x1 - width + 36 * _S, y), color, dash)
            self.draw.text((x1 - width + 42 * _S, y), name, fill=_INK, font=font, anchor="lm")


def learning_curves(history: Sequence[Mapping[str, Any]]) -> ReportFigure:
    """Loss and accuracy per epoch, train vs dev, and the learning rate, side by side; epochs
    where a knob was changed (``knob_change``) get a dotted vertical line."""
    epochs = history_column(history, "epoch")
    if not np.isfinite(epochs).any():
        epochs = np.arange(1, len(history) + 1, dtype=float)
    image = Image.new("RGB", (3 * _PANEL_W * _S, _H * _S), "white")
    draw = ImageDraw.Draw(image)
    knobs = [float(epochs[i]) for i, r in enumerate(history) if r.get("knob_change")]
    panels: dict[str, Any] = {}
    for k, (key, ylabel, title, may_log, upper, series) in enumerate(_PANELS):
        columns = [(name, history_column(history, col), color, dash) for name, col, color, dash in series]
        shown = [c for c in columns if np.isfinite(c[1]).any()]
        log = may_log and log_scale(np.concatenate([c[1] for c in columns]))
        panel = _Panel(draw, k * _PANEL_W, epochs, [c[1] for c in shown], log)
        panel.axes("epoch", ylabel, title, image)
        for x in knobs:
            panel.vline(x, _KNOB)
        counts = {name: panel.line(epochs, y, color, dash) for name, y, color, dash in shown}
        if len(shown) > 1:
            panel.legend([(name, color, dash) for name, _, color, dash in shown], upper)
        panels[key] = {"scale": "log" if log else "linear", "series": counts}
    image = image.reduce(_S)  # each output pixel the mean of its 2x2: smooth edges, in milliseconds
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return ReportFigure(
        name="learning_curves",
        title="Learning curves",
        png=buf.getvalue(),
        alt="Loss, accuracy (train vs dev) and learning rate per epoch",
        data={"panels": panels, "knob_changes": knobs},
    )
