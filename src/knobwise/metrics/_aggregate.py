"""Aggregates of per-class rates across classes, and confidence intervals.

- **micro**: every rate from the counts summed over classes (for single-label multiclass data,
  micro precision = micro recall = micro F1 = accuracy).
- **macro**: the unweighted mean over classes.
- **weighted**: the mean weighted by each class's support (its number of true examples).
- **hmean**: the harmonic mean over classes — one weak class pulls it down, which is the point.

A class whose rate is undefined (0/0, already warned about) is left out of macro, weighted and
hmean, as scikit-learn does with ``zero_division=np.nan``; when no class defines the rate the
aggregate is undefined (None).

Intervals: Wilson score intervals for proportions (precision, recall, ... of one class, and
accuracy), percentile bootstrap over examples for everything else (aggregates, F-beta, LRs).

Example:
    >>> [round(v, 4) for v in wilson_interval(8, 10, 0.95)]
    [0.4902, 0.9433]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Any

import torch

from knobwise.metrics._confusion import batched_confusion
from knobwise.metrics._rates import counts_from_confusion, rate_tensors
from knobwise.objective import COUNT_NAMES, PROPORTIONS

__all__ = [
    "AVERAGES",
    "aggregate_tensors",
    "aggregate_rates",
    "wilson_interval",
    "bootstrap_intervals",
    "confidence_intervals",
]

#: The aggregate kinds, in the order they appear in metrics.json.
AVERAGES: tuple[str, ...] = ("macro", "weighted", "micro", "hmean")


def _macro(r: torch.Tensor) -> torch.Tensor:
    return torch.nanmean(r, dim=-1)  # all-NaN rows give NaN (undefined), as they should


def _weighted(r: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    defined = ~r.isnan()
    w = torch.where(defined, support, torch.zeros_like(support))
    total = w.sum(-1)
    s = torch.where(defined, r * support, torch.zeros_like(r)).sum(-1)
    return torch.where(total > 0, s / torch.where(total > 0, total, torch.ones_like(total)), torch.nan)


def _hmean(r: torch.Tensor) -> torch.Tensor:
    defined = ~r.isnan()
    count = defined.sum(-1).to(r.dtype)
    inv = torch.where(defined, 1.0 / r, torch.zeros_like(r)).sum(-1)  # 1/0 = inf → hmean 0
    h = count / inv
    return torch.where(count > 0, h, torch.nan)


def aggregate_tensors(
    cm: torch.Tensor, betas: Iterable[float] = (1.0,)
) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """Per-class rate tensors ``(..., K)`` of ``cm`` ``(..., K, K)`` and their aggregates ``(...)``.

    Returns ``(per_class, {"macro": {...}, "weighted": {...}, "micro": {...}, "hmean": {...}})``;
    counts appear in ``micro`` only (summed), rates in all four.
    """
    betas = tuple(betas)
    tp, fp, fn, tn = counts_from_confusion(cm)
    per_class = rate_tensors(tp, fp, fn, tn, betas)
    support = tp + fn
    micro = rate_tensors(tp.sum(-1), fp.sum(-1), fn.sum(-1), tn.sum(-1), betas)
    rates = [k for k in per_class if k not in COUNT_NAMES]
    agg = {
        "macro": {k: _macro(per_class[k]) for k in rates},
        "weighted": {k: _weighted(per_class[k], support) for k in rates},
        "micro": micro,
        "hmean": {k: _hmean(per_class[k]) for k in rates},
    }
    return per_class, agg


def aggregate_rates(per_class: dict[str, dict[str, Any]], name: str, how: str) -> float | None:
    """Aggregate one rate of an already computed per-class dict (``how`` in :data:`AVERAGES`,
    except micro, which needs the counts: use :func:`aggregate_tensors`).

    >>> aggregate_rates({"a": {"recall": 1.0, "p": 1}, "b": {"recall": 0.5, "p": 3}}, "recall", "hmean")
    0.6666666666666666
    """
    if how not in ("macro", "weighted", "hmean"):
        raise ValueError(f"aggregate must be macro, weighted or hmean, got {how!r}")
    vals = [(row.get(name), row.get("p", 0)) for row in per_class.values()]
    r = torch.tensor([math.nan if v is None else float(v) for v, _ in vals], dtype=torch.float64)
    support = torch.tensor([float(p or 0) for _, p in vals], dtype=torch.float64)
    out = {"macro": _macro, "hmean": _hmean}.get(how)
    value = float(out(r)) if out is not None else float(_weighted(r, support))
    return None if math.isnan(value) else value


def wilson_interval(successes: float, total: float, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion ``successes / total``; None when ``total`` is 0.

    >>> wilson_interval(0, 10)[0]
    0.0
    """
    if total <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / total
    denom = 1 + z * z / total
    center = (p + z * z / (2 * total)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # At 0 or all successes the bound is exactly 0 or 1 (rounding would leave 1e-17).
    lo = 0.0 if successes <= 0 else max(0.0, center - half)
    hi = 1.0 if successes >= total else min(1.0, center + half)
    return lo, hi


def _quantiles(stat: torch.Tensor, level: float) -> list[list[float] | None]:
    """Percentile interval per column of ``stat`` ``(B, M)``, ignoring undefined draws."""
    q = torch.tensor([0.5 - level / 2, 0.5 + level / 2], dtype=stat.dtype, device=stat.device)
    qs = torch.nanquantile(stat, q, dim=0).T.cpu().tolist()
    return [None if math.isnan(lo) else [lo, hi] for lo, hi in qs]


def bootstrap_intervals(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    num_classes: int,
    *,
    betas: Iterable[float] = (1.0,),
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int | None = None,
) -> dict[str, Any]:
    """Percentile-bootstrap intervals of every per-class rate and aggregate (examples resampled
    with replacement ``n_boot`` times, on the labels' device, ``chunk`` resamples at a time:
    by default as many as keep the resampled labels under about 4 million entries).

    Returns ``{"accuracy": [lo, hi], "per_class": {k: {rate: [lo, hi]}}, "macro": {...}, ...}``
    with class indices as strings for keys.
    """
    betas = tuple(betas)
    n = y_true.numel()
    gen = torch.Generator(device=y_true.device).manual_seed(seed)
    # Few large chunks: the cost of a small split is the number of tensor operations, not their size.
    chunk = chunk or max(1, min(n_boot, 4_000_000 // max(n, 1)))
    cols: dict[str, list[torch.Tensor]] = {}
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = torch.randint(0, n, (b, n), generator=gen, device=y_true.device)
        t, p = y_true[idx], y_pred[idx]
        cm = batched_confusion(t, p, num_classes)
        per_class, agg = aggregate_tensors(cm, betas)
        cols.setdefault("accuracy", []).append((t == p).double().mean(-1, keepdim=True))
        for k, v in per_class.items():
            if k not in COUNT_NAMES:
                cols.setdefault(f"per_class|{k}", []).append(v)
        for how, rates in agg.items():
            for k, v in rates.items():
                if k not in COUNT_NAMES:
                    cols.setdefault(f"{how}|{k}", []).append(v.unsqueeze(-1))
    out: dict[str, Any] = {"per_class": {str(i): {} for i in range(num_classes)}}
    # One quantile call over every column at once (each statistic is one or K columns).
    stats = {key: torch.cat(parts) for key, parts in cols.items()}
    widths = [s.shape[1] for s in stats.values()]
    every = _quantiles(torch.cat(list(stats.values()), dim=1), level)
    starts = [sum(widths[:i]) for i in range(len(widths))]
    for (key, _), start, width in zip(stats.items(), starts, widths, strict=True):
        intervals = every[start : start + width]
        if key == "accuracy":
            out["accuracy"] = intervals[0]
            continue
        how, rate = key.split("|")
        if how == "per_class":
            for i, iv in enumerate(intervals):
                out["per_class"][str(i)][rate] = iv
        else:
            out.setdefault(how, {})[rate] = intervals[0]
    return out


def confidence_intervals(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    classes: Sequence[str],
    per_class: dict[str, dict[str, Any]],
    *,
    betas: Iterable[float] = (1.0,),
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``ci`` entry of a split's metrics: Wilson for proportions, bootstrap for the rest."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    if n_boot < 10:
        raise ValueError(f"n_boot must be >= 10, got {n_boot}")
    boot = bootstrap_intervals(
        y_true, y_pred, len(classes), betas=betas, level=level, n_boot=n_boot, seed=seed
    )
    n = y_true.numel()
    correct = int((y_true == y_pred).sum())
    acc = wilson_interval(correct, n, level)
    out: dict[str, Any] = {
        "level": level,
        "method": "wilson for proportions, percentile bootstrap otherwise",
        "n_boot": n_boot,
        "seed": seed,
        "accuracy": list(acc) if acc else None,
        "per_class": {},
    }
    for i, cls in enumerate(classes):
        row = per_class[str(cls)]
        entry: dict[str, Any] = {}
        for rate, iv in boot["per_class"][str(i)].items():
            if rate in PROPORTIONS:
                num, den = PROPORTIONS[rate]
                hits = row["tp"] + row["tn"] if rate == "accuracy" else row[num]  # one-vs-rest accuracy
                w = wilson_interval(hits, n if den == "all" else row[den], level)
                entry[rate] = list(w) if w else None
            else:
                entry[rate] = iv
        out["per_class"][str(cls)] = entry
    for how in ("macro", "weighted", "micro", "hmean"):
        out[how] = boot.get(how, {})
    return out
