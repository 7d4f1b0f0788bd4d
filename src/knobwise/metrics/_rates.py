"""Every rate of the confusion-matrix family, one-vs-rest per class and for a positive class.

Definitions (the methodology's): P = TP+FN, N = FP+TN, PP = TP+FP, PN = FN+TN; prevalence = P/all;
accuracy = (TP+TN)/all; precision = PPV = TP/PP; FDR = FP/PP; FOR = FN/PN; NPV = TN/PN;
recall = TPR = TP/P; FPR = FP/N; FNR = FN/P; specificity = TNR = TN/N; LR+ = TPR/FPR;
LR- = FNR/TNR; DOR = LR+/LR-; F-beta = (1+b²)TP / ((1+b²)TP + b²FN + FP).

A ratio whose denominator is zero is undefined: it is NaN in tensors and ``None`` (JSON ``null``)
in dicts, and an :class:`UndefinedMetricWarning` names it. It is never silently 0, because a 0
would read as "the model is bad at this" when the data simply cannot tell.

Example:
    >>> import torch
    >>> cm = torch.tensor([[3, 1], [0, 2]])
    >>> r = per_class_rates(cm, ["a", "b"])
    >>> r["b"]["precision"], r["b"]["recall"], r["b"]["tp"]
    (0.6666666666666666, 1.0, 2)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from knobwise.metrics._confusion import confusion_matrix
from knobwise.objective import (
    COUNT_NAMES,
    PROPORTIONS,
    RATE_ALIASES,
    RATE_NAMES,
    beta_key,
    canonical_rate,
    parse_beta,
)

__all__ = [
    "COUNT_NAMES",
    "RATE_NAMES",
    "PROPORTIONS",
    "RATE_ALIASES",
    "UndefinedMetricWarning",
    "beta_key",
    "parse_beta",
    "canonical_rate",
    "counts_from_confusion",
    "rate_tensors",
    "per_class_rates",
    "binary_rates",
    "tensor_to_value",
    "warn_undefined",
]


class UndefinedMetricWarning(UserWarning):
    """A rate is 0/0 (or x/0): it is reported as ``None``/``null``, not as 0."""


def counts_from_confusion(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-vs-rest ``(TP, FP, FN, TN)`` per class of a ``(..., K, K)`` matrix, as float64."""
    cm = cm.to(torch.float64)
    tp = torch.diagonal(cm, dim1=-2, dim2=-1)
    fp = cm.sum(-2) - tp  # predicted as the class, truly another
    fn = cm.sum(-1) - tp  # truly the class, predicted as another
    tn = cm.sum((-2, -1)).unsqueeze(-1) - tp - fp - fn
    return tp, fp, fn, tn


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / b`` with NaN (undefined) where ``b`` is zero."""
    nan = torch.full_like(a, float("nan"))
    return torch.where(b != 0, a / torch.where(b != 0, b, torch.ones_like(b)), nan)


def _fbeta(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, beta: float) -> torch.Tensor:
    b2 = beta * beta
    return _div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)


def rate_tensors(
    tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, tn: torch.Tensor, betas: Iterable[float] = (1.0,)
) -> dict[str, torch.Tensor]:
    """Every count and rate as float64 tensors shaped like the counts; NaN where undefined.

    >>> import torch
    >>> r = rate_tensors(*(torch.tensor([float(v)]) for v in (2, 1, 0, 3)))
    >>> float(r["precision"]), float(r["specificity"]), bool(r["lr_minus"].isnan())
    (0.6666666666666666, 0.75, False)
    """
    tp, fp, fn, tn = (t.to(torch.float64) for t in (tp, fp, fn, tn))
    p, n, pp, pn = tp + fn, fp + tn, tp + fp, fn + tn
    total = p + n
    out: dict[str, torch.Tensor] = {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "p": p,
        "n": n,
        "pp": pp,
        "pn": pn,
    }
    out["prevalence"] = _div(p, total)
    out["accuracy"] = _div(tp + tn, total)
    out["precision"] = _div(tp, pp)
    out["fdr"] = _div(fp, pp)
    out["for"] = _div(fn, pn)
    out["npv"] = _div(tn, pn)
    out["recall"] = _div(tp, p)
    out["fpr"] = _div(fp, n)
    out["fnr"] = _div(fn, p)
    out["specificity"] = _div(tn, n)
    out["lr_plus"] = _div(out["recall"], out["fpr"])  # NaN propagates from an undefined part
    out["lr_minus"] = _div(out["fnr"], out["specificity"])
    out["dor"] = _div(out["lr_plus"], out["lr_minus"])
    out["f1"] = _fbeta(tp, fp, fn, 1.0)
    for beta in betas:
        key = beta_key(beta)
        if key not in out:
            out[key] = _fbeta(tp, fp, fn, beta)
    return out


def tensor_to_value(name: str, value: float) -> int | float | None:
    """A scalar for JSON: counts as int, undefined (NaN) rates as None."""
    if math.isnan(value):
        return None
    if name in COUNT_NAMES:
        return int(round(value))
    return float(value)


def warn_undefined(undefined: Sequence[str], where: str = "") -> None:
    """One :class:`UndefinedMetricWarning` listing every undefined rate (``class.rate``)."""
    if not undefined:
        return
    shown = ", ".join(undefined[:12]) + (f" and {len(undefined) - 12} more" if len(undefined) > 12 else "")
    warnings.warn(
        f"{where}undefined rates (division by zero) reported as null, not 0: {shown}",
        UndefinedMetricWarning,
        stacklevel=3,
    )


def per_class_rates(
    cm: torch.Tensor, classes: Sequence[str], betas: Iterable[float] = (1.0,), *, warn: bool = True
) -> dict[str, dict[str, Any]]:
    """``{class name: {tp, fp, ..., f1}}`` one-vs-rest for each class of ``cm``.

    >>> import torch
    >>> per_class_rates(torch.tensor([[1, 0], [0, 0]]), ["a", "b"], warn=False)["b"]["recall"] is None
    True
    """
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix {tuple(cm.shape)} does not match {len(classes)} classes")
    tensors = rate_tensors(*counts_from_confusion(cm), betas=betas)
    names = list(tensors)
    # One transfer to the host for the whole table.
    table = torch.stack([tensors[k] for k in names], dim=1).cpu().tolist()
    out: dict[str, dict[str, Any]] = {}
    undefined: list[str] = []
    for cls, row in zip(classes, table, strict=True):
        out[str(cls)] = {k: tensor_to_value(k, v) for k, v in zip(names, row, strict=True)}
        undefined += [f"{cls}.{k}" for k, v in zip(names, row, strict=True) if math.isnan(v)]
    if warn:
        warn_undefined(undefined)
    return out


def binary_rates(
    y_true: Any,
    y_pred: Any,
    positive: int = 1,
    num_classes: int = 2,
    betas: Iterable[float] = (1.0,),
    *,
    warn: bool = True,
) -> dict[str, Any]:
    """The rates of a binary problem with ``positive`` as the positive class (for more than two
    classes: that class against the rest).

    >>> binary_rates([0, 1, 1, 0], [0, 1, 0, 0], positive=1)["recall"]
    0.5
    """
    if not 0 <= positive < num_classes:
        raise ValueError(f"positive class {positive} is outside the class range 0..{num_classes - 1}")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    names = [str(i) for i in range(num_classes)]
    row = per_class_rates(cm, names, betas, warn=False)[names[positive]]
    if warn:
        warn_undefined([f"positive.{k}" for k, v in row.items() if v is None])
    return row
