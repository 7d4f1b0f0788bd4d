"""Learning-curve diagnosis from a run's ``history.csv``.

Each finding names the problem, the epoch where it shows, what was seen, and the problem's knobs:

- ``overfitting``: the dev loss reaches its minimum and then rises while the training loss keeps
  falling (the epoch reported is the first epoch after the best one);
- ``lr_too_large``: a training loss that diverges (non-finite, or ends above where it started) or
  oscillates (rises in many epochs instead of falling);
- ``lr_too_small``: a long plateau of the training loss while it is still high (too small a rate,
  or stuck at a saddle point);
- ``growing_gap``: the train/dev accuracy gap keeps growing over the second half of training.

Example:
    >>> rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + (0.05 * (e - 4) ** 2 if e > 4 else 0)}
    ...         for e in range(1, 11)]
    >>> [f.problem for f in diagnose_curves(rows)]
    ['overfitting']
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.diagnose._advice import Knob, knobs_for
from knobwise.errors import RunError

__all__ = ["CurveFinding", "diagnose_curves", "read_history"]


@dataclass
class CurveFinding:
    """One learning-curve problem: where it shows (1-based epoch), what was seen, its knobs."""

    problem: str
    epoch: int | None
    detail: str
    knobs: list[Knob] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "problem": self.problem,
            "epoch": self.epoch,
            "detail": self.detail,
            "knobs": [k.to_dict() for k in self.knobs],
        }


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Rows of ``history.csv`` with numbers as floats (an empty cell is NaN).

    A missing file or one without an ``epoch``/``loss`` column is a :class:`RunError`.
    """
    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p}: file not found (the run has no history)")
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "loss" not in reader.fieldnames:
            raise RunError(f"{p}: not a history file (needs columns epoch and loss)")
        return [{k: (math.nan if v == "" else _number(v)) for k, v in row.items()} for row in reader]


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray | None:
    if not rows or key not in rows[0]:
        return None
    vals = [r.get(key) for r in rows]
    return np.array([v if isinstance(v, float | int) else math.nan for v in vals], dtype=float)


def _overfitting(loss: np.ndarray, val: np.ndarray) -> CurveFinding | None:
    ok = np.isfinite(val)
    if ok.sum() < 4:
        return None
    best = int(np.nanargmin(val))
    after = val[best + 1 :]
    after = after[np.isfinite(after)]
    if len(after) < 2:
        return None
    rise = float(after[-1] - val[best])
    # A real rise: the last dev loss is clearly above the best (5%), and most epochs after it are up.
    if rise <= 0.05 * abs(val[best]) or np.mean(after > val[best]) < 0.75:
        return None
    train_falling = loss[-1] < loss[best]
    why = "while the training loss kept falling" if train_falling else "(the training loss stalled too)"
    return CurveFinding(
        "overfitting",
        best + 2,
        f"dev loss was lowest at epoch {best + 1} ({val[best]:.4g}) and rose to {after[-1]:.4g} {why}",
    )


def _lr_too_large(loss: np.ndarray) -> CurveFinding | None:
    bad = np.flatnonzero(~np.isfinite(loss))
    if len(bad):
        return CurveFinding("lr_too_large", int(bad[0]) + 1, "the training loss became non-finite (diverged)")
    if len(loss) >= 3 and loss[-1] > loss[0] * 1.05:
        worst = int(np.argmax(loss))
        return CurveFinding(
            "lr_too_large",
            worst + 1,
            f"the training loss diverged: it ended at {loss[-1]:.4g}, above its start {loss[0]:.4g}",
        )
    steps = np.diff(loss)
    rises = steps > 0.02 * np.abs(loss[:-1])  # a rise of the epoch-mean loss of more than 2%
    if len(steps) >= 4 and rises.sum() >= max(2, math.ceil(0.3 * len(steps))):
        first = int(np.flatnonzero(rises)[0]) + 2
        return CurveFinding(
            "lr_too_large",
            first,
            f"the training loss oscillates: it rose in {int(rises.sum())} of {len(steps)} epochs",
        )
    return None


def _lr_too_small(loss: np.ndarray, acc: np.ndarray | None) -> CurveFinding | None:
    if len(loss) < 5:
        return None
    if acc is not None and np.isfinite(acc[-1]) and acc[-1] >= 0.99:
        return None  # a plateau near a perfect fit is convergence, not a problem
    rel = -np.diff(loss) / np.maximum(np.abs(loss[:-1]), 1e-12)
    flat = rel < 0.01  # less than 1% better per epoch
    best_len, best_start, run_start = 0, 0, 0
    for i, f in enumerate(flat):
        if not f:
            run_start = i + 1
        elif i - run_start + 1 > best_len:
            best_len, best_start = i - run_start + 1, run_start
    need = max(3, math.ceil(0.3 * len(flat)))
    if best_len < need:
        return None
    where = (
        "from the start (stuck at a saddle point or too small a rate)" if best_start == 0 else "(a plateau)"
    )
    return CurveFinding(
        "lr_too_small",
        best_start + 1,
        f"the training loss barely moved for {best_len} epochs {where}, at {loss[best_start]:.4g}",
    )


def _growing_gap(acc: np.ndarray | None, val_acc: np.ndarray | None, tolerance: float) -> CurveFinding | None:
    if acc is None or val_acc is None:
        return None
    gap = 100.0 * (acc - val_acc)
    ok = np.isfinite(gap)
    if ok.sum() < 6:
        return None
    g = gap[ok]
    half = g[len(g) // 2 :]
    slope = float(np.polyfit(np.arange(len(half)), half, 1)[0])
    # Growing: rising over the second half, and the last gap clearly above the first half's mean.
    if slope <= 0.1 or g[-1] <= tolerance or g[-1] - g[: len(g) // 2].mean() <= tolerance:
        return None
    start = int(np.flatnonzero(ok)[len(g) // 2]) + 1
    return CurveFinding(
        "growing_gap",
        start,
        f"the train/dev accuracy gap grows ({slope:.2g} pp per epoch), now {g[-1]:.2f} pp",
    )


def diagnose_curves(
    rows: list[dict[str, Any]], tolerance: float = 1.0, config: dict[str, Any] | None = None
) -> list[CurveFinding]:
    """Learning-curve findings from history rows (see :func:`read_history`), each with its knobs."""
    loss = _column(rows, "loss")
    if loss is None or len(loss) == 0:
        return []
    val, acc, val_acc = _column(rows, "val_loss"), _column(rows, "accuracy"), _column(rows, "val_accuracy")
    findings: list[CurveFinding | None] = [_lr_too_large(loss)]
    finite = bool(np.isfinite(loss).all())
    if finite:
        findings.append(_lr_too_small(loss, acc))
        if val is not None:
            findings.append(_overfitting(loss, val))
        findings.append(_growing_gap(acc, val_acc, tolerance))
    out = [f for f in findings if f is not None]
    for f in out:
        f.knobs = knobs_for("variance" if f.problem == "growing_gap" else f.problem, config)
    return out
