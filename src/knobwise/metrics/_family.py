"""The full metric family of one split: what ``metrics.json`` holds per split.

``classification_metrics`` turns labels (and optionally probabilities) into
``{"n", "accuracy", "error", "per_class", "macro", "weighted", "micro", "hmean",
"confusion_matrix", "classes"}`` plus ``"binary"`` for two classes, ``"loss"`` and
``"confidence"`` when probabilities are given, and ``"ci"`` when intervals are asked for.
Error is in percent; undefined rates are None (JSON null) with one warning per call.

Example:
    >>> m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    >>> m["accuracy"], m["per_class"]["c"]["precision"], m["macro"]["recall"]
    (0.75, 0.5, 0.8333333333333334)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from knobwise.metrics._aggregate import AVERAGES, aggregate_tensors, confidence_intervals
from knobwise.metrics._confusion import as_labels
from knobwise.metrics._predictions import Predictions, confidence_summary
from knobwise.metrics._rates import tensor_to_value, warn_undefined

__all__ = ["classification_metrics"]


def _values(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    names = list(tensors)
    row = torch.stack([tensors[k].reshape(()) for k in names]).cpu().tolist()
    return {k: tensor_to_value(k, v) for k, v in zip(names, row, strict=True)}


def _proba_tensor(proba: Any, n: int, k: int, device: torch.device) -> torch.Tensor:
    p = proba.detach() if isinstance(proba, torch.Tensor) else torch.as_tensor(np.asarray(proba))
    p = p.to(device=device, dtype=torch.float32)
    if p.shape != (n, k):
        raise ValueError(f"proba must have shape ({n}, {k}) (examples, classes), got {tuple(p.shape)}")
    return p


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    classes: Sequence[str],
    proba: Any = None,
    *,
    betas: Iterable[float] = (1.0,),
    positive: int | str | None = None,
    ci: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every count, rate and aggregate of one split, as the per-split dict of ``metrics.json``.

    Args:
        y_true, y_pred: integer labels ``0..K-1`` (tensors stay on their device).
        classes: the K class names, in label order.
        proba: optional ``(N, K)`` probabilities: adds ``loss`` (log loss) and ``confidence``.
        betas: F-beta values to add besides F1 (``f2``, ``f0.5``, ...).
        positive: for two classes, the positive class (name or index; default the second).
        ci: a confidence level (0.95) adds ``ci``: Wilson and bootstrap intervals.
        n_boot, seed: bootstrap resamples and their seed.

    Labels outside the class range raise a ``ValueError`` that names them.

    >>> classification_metrics([1, 0], [1, 1], ["neg", "pos"])["binary"]["fpr"]
    1.0
    """
    classes = [str(c) for c in classes]
    k = len(classes)
    if k == 0:
        raise ValueError("classes must name at least one class")
    betas = tuple(betas)
    t = as_labels(y_true, "y_true", k)
    p = as_labels(y_pred, "y_pred", k, device=t.device)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.numel()} labels but y_pred has {p.numel()}")
    n = t.numel()
    flat = torch.bincount(t * k + p, minlength=k * k)
    cm = flat.reshape(k, k)
    per_class_t, agg_t = aggregate_tensors(cm, betas)

    names = list(per_class_t)
    table = torch.stack([per_class_t[x] for x in names], dim=1).cpu().tolist()
    per_class = {
        cls: {x: tensor_to_value(x, v) for x, v in zip(names, row, strict=True)}
        for cls, row in zip(classes, table, strict=True)
    }
    correct = int(torch.diagonal(cm).sum())
    accuracy = correct / n if n else None
    out: dict[str, Any] = {
        "n": n,
        "accuracy": accuracy,
        "error": None if accuracy is None else 100.0 * (1.0 - accuracy),
        "per_class": per_class,
    }
    for how in AVERAGES:
        out[how] = _values(agg_t[how])
    out["confusion_matrix"] = cm.cpu().tolist()
    out["classes"] = classes

    undefined = [f"{c}.{x}" for c, row in per_class.items() for x, v in row.items() if v is None]
    undefined += [f"{how}.{x}" for how in AVERAGES for x, v in out[how].items() if v is None]
    if accuracy is None:
        undefined.append("accuracy")

    if k == 2 or positive is not None:
        pos = _positive_index(positive, classes)
        out["binary"] = {"positive": classes[pos], **per_class[classes[pos]]}

    if proba is not None:
        pr = _proba_tensor(proba, n, k, t.device)
        true_p = pr.gather(1, t.unsqueeze(1)).squeeze(1).double().clamp_min(1e-12)
        out["loss"] = float(-true_p.log().mean()) if n else None
        preds = Predictions(
            index=np.arange(n), true=t.cpu().numpy(), pred=p.cpu().numpy(), proba=pr.cpu().numpy()
        )
        out["confidence"] = confidence_summary(preds)
    if ci is not None:
        out["ci"] = confidence_intervals(
            t, p, classes, per_class, betas=betas, level=ci, n_boot=n_boot, seed=seed
        )
    warn_undefined(undefined)
    return out


def _positive_index(positive: int | str | None, classes: list[str]) -> int:
    if positive is None:
        return 1
    if isinstance(positive, str) and positive in classes:
        return classes.index(positive)
    if isinstance(positive, int) and 0 <= positive < len(classes):
        return positive
    raise ValueError(f"positive class {positive!r} is not one of {classes}")
