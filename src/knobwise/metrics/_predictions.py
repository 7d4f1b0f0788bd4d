"""Per-example outputs of a run: ``predictions.npz`` and what the probabilities say.

The file holds, for every split present (train, train_dev, dev, test), the arrays
``{split}_index``, ``{split}_true``, ``{split}_pred`` (int64), ``{split}_proba`` (float32 ``(N, K)``),
optionally ``{split}_ids`` and ``{split}_source`` (unicode strings), and ``classes``. Nothing in it
needs pickle, so loading never runs code from the file.

"Hesitant" predictions are those where the model gave two classes high scores: the runner-up
probability is at least ``min_second`` and the top-1/top-2 margin at most ``max_margin``.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> proba = np.array([[0.9, 0.1], [0.45, 0.55]], dtype=np.float32)
    >>> save_predictions(path, {"dev": {"index": [3, 7], "true": [0, 0], "proba": proba}}, classes=["a", "b"])
    >>> p = load_predictions(path)["dev"]
    >>> p.pred.tolist(), [round(float(m), 2) for m in p.margin]
    ([0, 1], [0.8, 0.1])
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.errors import RunError
from knobwise.io import atomic_write_bytes

__all__ = [
    "Predictions",
    "save_predictions",
    "load_predictions",
    "load_prediction_classes",
    "confidence_summary",
    "hesitant_predictions",
]

_SPLITS = ("train", "train_dev", "dev", "test")
_FIELDS = ("index", "true", "pred", "proba", "ids", "source")


@dataclass
class Predictions:
    """The per-example outputs of one split.

    Attributes:
        index: int64 positions of the examples in their source pool (as ``SplitData.index``).
        true: int64 true labels.
        pred: int64 predicted labels.
        proba: float32 ``(N, K)`` class probabilities.
        ids: per-example identifiers (file paths, ...) or None.
        source: per-example source tag or None.
    """

    index: np.ndarray
    true: np.ndarray
    pred: np.ndarray
    proba: np.ndarray
    ids: np.ndarray | None = None
    source: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.true.shape[0])

    @property
    def top1(self) -> np.ndarray:
        """The highest probability of each example."""
        if self.proba.shape[1] == 0:
            return np.zeros(len(self), dtype=np.float32)
        return self.proba.max(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The predicted class's probability of each example."""
        if self.proba.ndim == 2 and len(self.proba):
            return self.proba[np.arange(len(self.pred)), self.pred]
        return np.ones(len(self.pred), dtype=np.float32)

    @property
    def margin(self) -> np.ndarray:
        """Top-1 minus top-2 probability (1 when there is a single class)."""
        if self.proba.shape[1] < 2:
            return np.ones(len(self), dtype=np.float32)
        part = np.sort(self.proba, axis=1)
        return part[:, -1] - part[:, -2]


def _array(name: str, value: Any, dtype: Any) -> np.ndarray:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if dtype is str:
        return arr.astype(str)  # unicode, never object: the file loads without pickle
    return arr.astype(dtype, copy=False)


def save_predictions(
    path: str | Path, per_split: dict[str, dict[str, Any]], classes: Sequence[str] = ()
) -> None:
    """Write ``predictions.npz`` atomically.

    ``per_split`` maps a split name to ``{"index", "true", "proba"}`` and optionally ``"pred"``
    (default: argmax of ``proba``), ``"ids"`` and ``"source"``; tensors or arrays.
    """
    arrays: dict[str, np.ndarray] = {"classes": np.asarray([str(c) for c in classes], dtype=str)}
    for split, d in per_split.items():
        missing = [k for k in ("index", "true", "proba") if d.get(k) is None]
        if missing:
            raise ValueError(f"predictions for split {split!r} lack {', '.join(missing)}")
        proba = _array("proba", d["proba"], np.float32)
        if proba.ndim != 2:
            raise ValueError(
                f"predictions for split {split!r}: proba must be (N, K), got shape {proba.shape}"
            )
        n = proba.shape[0]
        pred = d.get("pred")
        fields = {
            "index": _array("index", d["index"], np.int64),
            "true": _array("true", d["true"], np.int64),
            "pred": _array("pred", pred, np.int64) if pred is not None else proba.argmax(1).astype(np.int64),
            "proba": proba,
        }
        for opt in ("ids", "source"):
            if d.get(opt) is not None:
                fields[opt] = _array(opt, d[opt], str)
        for k, v in fields.items():
            if v.shape[0] != n:
                raise ValueError(f"predictions for split {split!r}: {k} has {v.shape[0]} rows, proba has {n}")
            arrays[f"{split}_{k}"] = v
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def _open(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p}: file not found")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RunError(f"{p}: not a predictions file ({exc})") from None


def load_predictions(path: str | Path) -> dict[str, Predictions]:
    """The :class:`Predictions` of every split in ``path`` (never unpickles)."""
    with _open(path) as z:
        keys = set(z.files)
        out: dict[str, Predictions] = {}
        for split in _SPLITS:
            if f"{split}_proba" not in keys:
                continue
            got = {f: z[f"{split}_{f}"] for f in _FIELDS if f"{split}_{f}" in keys}
            out[split] = Predictions(**got)
    return out


def load_prediction_classes(path: str | Path) -> list[str]:
    """The class names stored in ``predictions.npz``."""
    with _open(path) as z:
        return [str(c) for c in z["classes"]] if "classes" in z.files else []


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "median": None, "p05": None, "p95": None}
    v = values.astype(np.float64)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p05": float(np.quantile(v, 0.05)),
        "p95": float(np.quantile(v, 0.95)),
    }


def confidence_summary(pred: Predictions, max_margin: float = 0.2, min_second: float = 0.3) -> dict[str, Any]:
    """Top-1 probability and top-1/top-2 margin statistics, and how many predictions hesitate.

    >>> p = Predictions(np.arange(2), np.array([0, 1]), np.array([0, 0]),
    ...                 np.array([[0.9, 0.1], [0.55, 0.45]], dtype=np.float32))
    >>> s = confidence_summary(p)
    >>> s["hesitant"], round(s["top1_wrong_mean"], 2)
    (1, 0.55)
    """
    correct = pred.true == pred.pred
    top1 = pred.top1
    return {
        "top1": _stats(top1),
        "margin": _stats(pred.margin),
        "top1_correct_mean": float(top1[correct].mean()) if correct.any() else None,
        "top1_wrong_mean": float(top1[~correct].mean()) if (~correct).any() else None,
        "hesitant": len(_hesitant_rows(pred, max_margin, min_second)),
        "hesitant_rule": f"margin <= {max_margin:g} and second probability >= {min_second:g}",
    }


def _hesitant_rows(pred: Predictions, max_margin: float, min_second: float) -> np.ndarray:
    if pred.proba.shape[1] < 2 or len(pred) == 0:
        return np.zeros(0, dtype=np.int64)
    second = np.sort(pred.proba, axis=1)[:, -2]
    rows = np.flatnonzero((pred.margin <= max_margin) & (second >= min_second))
    return rows[np.argsort(pred.margin[rows], kind="stable")]


def hesitant_predictions(
    pred: Predictions,
    classes: Sequence[str],
    *,
    max_margin: float = 0.2,
    min_second: float = 0.3,
    limit: int | None = 20,
) -> list[dict[str, Any]]:
    """The hesitant predictions, smallest margin first: index, id, source, true and predicted
    class, the runner-up class and both probabilities.

    >>> p = Predictions(np.array([5]), np.array([1]), np.array([0]), np.array([[0.5, 0.4]], dtype=np.float32))
    >>> hesitant_predictions(p, ["a", "b"])[0]["second"]
    'b'
    """
    rows = _hesitant_rows(pred, max_margin, min_second)
    if limit is not None:
        rows = rows[:limit]
    order = np.argsort(pred.proba[rows], axis=1) if rows.size else np.zeros((0, 2), dtype=np.int64)
    out = []
    for r, o in zip(rows.tolist(), order, strict=True):
        first, second = int(o[-1]), int(o[-2])
        out.append(
            {
                "index": int(pred.index[r]),
                "id": None if pred.ids is None else str(pred.ids[r]),
                "source": None if pred.source is None else str(pred.source[r]),
                "true": classes[int(pred.true[r])],
                "pred": classes[int(pred.pred[r])],
                "top1": float(pred.proba[r, first]),
                "second": classes[second],
                "second_proba": float(pred.proba[r, second]),
                "margin": float(pred.proba[r, first] - pred.proba[r, second]),
            }
        )
    return out
