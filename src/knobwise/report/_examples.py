"""Per-example evidence for a run report: predictions, the confusion matrix, example images.

Predictions come from the run (its ``predictions.npz``, else its saved model on the same split
definition, so an old run's report still shows its confusion matrix and its mistakes). Images are
the split's tensors mapped back to pixels with the inverse of the run's normalizer.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> p = Predictions(index=np.arange(2), true=np.array([0, 1]), pred=np.array([0, 0]), proba=proba)
    >>> confusion_from(p, 2).tolist()
    [[1, 0], [1, 0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from knobwise.diagnose import to_pixels
from knobwise.metrics import Predictions
from knobwise.report._figures import ReportFigure
from knobwise.report._grid import image_grid

__all__ = [
    "confusion_from",
    "pixels",
    "mistakes_grid",
    "low_confidence_grid",
]

#: Examples per grid: three rows of eight stay readable at 1280 px.
GRID_SIZE = 24


def confusion_from(p: Predictions, k: int) -> np.ndarray:
    """``(K, K)`` counts, true on rows, predicted on columns."""
    return np.bincount(p.true * k + p.pred, minlength=k * k).reshape(k, k)


def pixels(data: Any, split: str, positions: np.ndarray) -> np.ndarray:
    """Images of ``split`` at ``positions`` as ``(N, C, H, W)`` values in ``[0, 1]``: the
    normalizer undone (``x * scale + shift``), else each image min-max scaled for display."""
    x = data.splits[split].x
    return to_pixels(x[torch.as_tensor(positions, dtype=torch.long, device=x.device)], data.normalizer)


def _positions(data: Any, split: str, index: np.ndarray) -> np.ndarray:
    """Positions in the prepared split of the examples whose source index is ``index`` (-1: absent)."""
    where = {int(v): i for i, v in enumerate(np.asarray(data.splits[split].index).tolist())}
    return np.asarray([where.get(int(v), -1) for v in index], dtype=np.int64)


def _grid(
    data: Any,
    split: str,
    p: Predictions,
    chosen: np.ndarray,
    classes: list[str],
    name: str,
    title: str,
    conf: bool,
) -> ReportFigure | None:
    pos = _positions(data, split, p.index[chosen])
    keep = pos >= 0
    if not keep.any():
        return None
    chosen, pos = chosen[keep], pos[keep]

    def label(i: int) -> str:
        return classes[i] if 0 <= i < len(classes) else str(i)

    titles = [
        f"{label(int(p.true[i]))}:{label(int(p.pred[i]))}" + (f" {p.confidence[i]:.2f}" if conf else "")
        for i in chosen
    ]
    return image_grid(pixels(data, split, pos), titles, name, title)


def mistakes_grid(
    data: Any, split: str, p: Predictions, classes: list[str]
) -> tuple[ReportFigure | None, int]:
    """Misclassified examples, the most confident mistakes first (the likeliest label issues),
    titled ``true:pred``; and how many mistakes there are."""
    wrong = np.flatnonzero(p.true != p.pred)
    order = wrong[np.argsort(-p.confidence[wrong], kind="stable")][:GRID_SIZE]
    if not len(order):
        return None, 0
    title = f"Misclassified {split} examples (true:pred), most confident first"
    return _grid(data, split, p, order, classes, f"misclassified_{split}", title, False), len(wrong)


def low_confidence_grid(data: Any, split: str, p: Predictions, classes: list[str]) -> ReportFigure | None:
    """The examples the model was least sure about (lowest top-1 probability), right or wrong,
    titled ``true:pred probability``."""
    if not len(p.true):
        return None
    order = np.argsort(p.confidence, kind="stable")[:GRID_SIZE]
    title = f"Lowest-confidence {split} examples (true:pred top-1 probability)"
    return _grid(data, split, p, order, classes, f"low_confidence_{split}", title, True)


def label_issue_grid(data: Any, rows: list[dict[str, Any]], limit: int = 16) -> ReportFigure | None:
    """Thumbnails of the top suspected label issues (rows of ``label_issues.csv``), titled
    ``rank. label→suggested``, to judge them by eye."""
    rows = [r for r in rows[:limit] if str(r.get("index", "")).lstrip("-").isdigit()]
    if not rows or "train" not in data.splits:
        return None
    pos = _positions(data, "train", np.asarray([int(r["index"]) for r in rows]))
    keep = pos >= 0
    if not keep.any():
        return None
    titles = [f"{r['rank']}. {r['label']}→{r['suggested']}" for r, k in zip(rows, keep, strict=True) if k]
    title = "Suspected label issues (rank. label→suggested)"
    return image_grid(pixels(data, "train", pos[keep]), titles, "label_issues", title)
