"""A matrix shown as an HTML table with coloured cells: the confusion matrix of a report.

Up to :data:`MAX_CLASSES` classes, a confusion matrix reads better as a table than as a picture
(the numbers are text: sharp at any zoom, selectable, read by screen readers) and costs nothing
to draw, where a matplotlib heat map with one text per cell costs a large part of a second. The
cell colours follow matplotlib's viridis (perceptually uniform, readable in grayscale), with dark
ink on the light end and white ink on the dark end. Beyond that many classes the numbers no
longer fit and the report draws a picture instead.

Example:
    >>> import numpy as np
    >>> h = confusion_heatmap(np.array([[5, 1], [0, 4]]), ["cat", "dog"], "dev", normalized=False)
    >>> [c.text for c in h.rows[0][1]], h.rows[1][1][0].text
    (['5', '1'], '')
    >>> viridis(0.0), viridis(1.0)
    ('#440154', '#fde725')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from knobwise.report._colors import VIRIDIS, lookup

__all__ = ["HeatCell", "Heatmap", "confusion_heatmap", "viridis", "MAX_CLASSES"]

#: Beyond this many classes the cells are too small for their numbers.
MAX_CLASSES = 30

_HEX = re.compile(r"#[0-9a-f]{6}")


def viridis(v: float) -> str:
    """The viridis colour of ``v`` in [0, 1] as ``#rrggbb``."""
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in lookup(VIRIDIS, v))


@dataclass(frozen=True)
class HeatCell:
    """One cell: its text and its colours (``#rrggbb``, computed here, never user input)."""

    text: str
    background: str
    ink: str

    def __post_init__(self) -> None:
        if not (_HEX.fullmatch(self.background) and _HEX.fullmatch(self.ink)):
            raise ValueError(f"cell colours must be #rrggbb, got {self.background!r}, {self.ink!r}")


@dataclass(frozen=True)
class Heatmap:
    """A labelled matrix of :class:`HeatCell` s: ``rows`` pairs a row label with its cells;
    ``corner`` names the two axes (``true \\ predicted``)."""

    caption: str
    corner: str
    columns: list[str]
    rows: list[tuple[str, list[HeatCell]]]


def confusion_heatmap(cm: np.ndarray, classes: list[str], split: str, normalized: bool) -> Heatmap:
    """The confusion matrix of ``split`` (true on rows, predicted on columns) as counts, or
    ``normalized`` by row (each row divided by the class's examples: per-class recall on the
    diagonal). Zero cells are left blank so the mistakes stand out."""
    cm = np.asarray(cm, dtype=np.int64)
    totals = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)
    shade = norm if normalized else cm / max(int(cm.max(initial=0)), 1)
    rows = []
    for i, label in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            text = "" if cm[i, j] == 0 else f"{norm[i, j]:.2f}" if normalized else str(int(cm[i, j]))
            ink = "#000000" if shade[i, j] > 0.55 else "#ffffff"
            cells.append(HeatCell(text, viridis(shade[i, j]), ink))
        rows.append((label, cells))
    what = "row-normalized (recall on the diagonal)" if normalized else "counts"
    return Heatmap(f"{split}: {what}; blank cells are 0", "true \\ predicted", list(classes), rows)
