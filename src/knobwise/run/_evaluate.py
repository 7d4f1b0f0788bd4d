"""Evaluating a trained model on its run's splits: the metric family per split (and per
source), the model's size, latency when the objective reads it, and the objective itself.

Training calls :func:`evaluate_splits` at its end; :meth:`knobwise.run.BaseRun.evaluate`
recomputes the same numbers later from the saved model (same data, same test-time augmentation).

Example (a finished run)::

    out = evaluate_run(BaseRun("runs/20250101-digits"), "dev")
    out["metrics"]["dev"]["accuracy"]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from knobwise.config import EvaluateConfig, TTAConfig
from knobwise.data import PreparedData, predict_tta
from knobwise.errors import KnobwiseError, RunError
from knobwise.metrics import (
    Predictions,
    UndefinedMetricWarning,
    check_objective,
    confidence_intervals,
    hesitant_predictions,
    logits_metrics,
    measure_latency,
)
from knobwise.models import summarize
from knobwise.objective import needs_latency
from knobwise.train import predict_logits

if TYPE_CHECKING:
    from knobwise.run._run import BaseRun

__all__ = [
    "evaluate_splits",
    "quietly_undefined",
    "model_facts",
    "objective_of",
    "evaluate_run",
    "to_predictions",
]


def evaluate_splits(
    model: torch.nn.Module,
    data: PreparedData,
    amp_dtype: torch.dtype | None = None,
    predictions: dict[str, dict[str, Any]] | None = None,
    splits: Sequence[str] | None = None,
    tta: TTAConfig | None = None,
) -> dict[str, Any]:
    """Loss, accuracy, error and the full metric family on every split of ``data`` (eval mode),
    and per source (``"sources": {tag: {...}}``) when a split has source tags.

    ``predictions``, when given, is filled with each split's per-example outputs for
    :func:`knobwise.metrics.save_predictions`; ``splits`` limits the splits evaluated.
    """
    out: dict[str, Any] = {}
    for name, split in data.splits.items():
        if len(split) == 0 or (splits is not None and name not in splits):
            continue
        if tta is not None:  # evaluate.tta: log of the view-averaged probabilities serve as logits
            logits = predict_tta(
                lambda v: predict_logits(model, v, amp_dtype=amp_dtype), split.x, tta, data.normalizer
            )
        else:
            logits = predict_logits(model, split.x, amp_dtype=amp_dtype)
        out[name] = logits_metrics(logits, split.y, data.classes)
        if split.groups is not None:
            groups = split.groups.astype(str)
            out[name]["sources"] = {}
            for tag in sorted(set(groups.tolist())):
                mask = torch.as_tensor(groups == tag, device=logits.device)
                out[name]["sources"][tag] = logits_metrics(logits[mask], split.y[mask], data.classes)
        if predictions is not None:
            predictions[name] = {
                "index": split.index,
                "true": split.y,
                "pred": logits.argmax(1),
                "proba": torch.softmax(logits.float(), 1),
                "ids": split.ids,
                "source": split.groups,
            }
    return out


def quietly_undefined(fn: Callable[[], Any]) -> tuple[Any, bool]:
    """``fn()`` with :class:`UndefinedMetricWarning` s collected instead of printed; returns the
    result and whether any rate was undefined (one log line instead of a warning per split)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        result = fn()
    for w in caught:
        if not issubclass(w.category, UndefinedMetricWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, any(issubclass(w.category, UndefinedMetricWarning) for w in caught)


#: The line logged (once) when some rate had a zero denominator.
UNDEFINED_NOTE = (
    "note: some rates have a zero denominator (e.g. LR+ with no false positives) and are "
    "written as null in metrics.json, never as 0"
)


def model_facts(model: torch.nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """``{"params", "size_mb", "depth"}`` of ``model`` (what ``params`` / ``size_mb`` constraints read)."""
    summary = summarize(model, tuple(input_shape))
    return {"params": summary.total_params, "size_mb": summary.size_mb, "depth": summary.depth}


def objective_of(
    metrics: dict[str, Any],
    ev: EvaluateConfig,
    model: torch.nn.Module,
    data: PreparedData,
    amp_dtype: torch.dtype | None,
    *,
    latency: bool = False,
) -> None:
    """Fill ``metrics["objective"]`` (and ``metrics["latency"]`` when asked for or when the
    objective reads it). An objective that cannot be computed is recorded with its error, never
    raised: a trained model is not thrown away over its objective."""
    if latency or needs_latency(ev.metric, ev.constraints):
        example = next(s.x[:1] for s in data.splits.values() if len(s))
        metrics["latency"] = measure_latency(model, example, amp_dtype=amp_dtype)
    try:
        metrics["objective"] = check_objective(metrics, ev.metric, ev.constraints, ev.direction)
    except KnobwiseError as exc:
        metrics["objective"] = {"metric": ev.metric, "value": None, "constraints": [], "error": str(exc)}


def to_predictions(p: dict[str, Any]) -> Predictions:
    """One split's outputs as :func:`evaluate_splits` collects them, as :class:`Predictions`."""
    return Predictions(
        index=np.asarray(p["index"]),
        true=p["true"].cpu().numpy(),
        pred=p["pred"].cpu().numpy(),
        proba=p["proba"].cpu().numpy(),
        ids=p["ids"],
        source=p["source"],
    )


def evaluate_run(
    run: BaseRun,
    split: str | None = None,
    *,
    latency: bool = False,
    ci: float | None = None,
    hesitant: int = 10,
) -> dict[str, Any]:
    """Recompute a finished run's metrics from its saved model on its own data.

    Returns ``{"run", "metrics": {split: {...}, "model", "latency"?, "objective"},
    "hesitant": {split: [...]}}``; ``ci`` adds confidence intervals at that level.
    """
    data, model = run.data, run.model
    if list(run.classes) != list(data.classes):
        raise RunError(f"{run.root}: the data's classes {data.classes} differ from the model's {run.classes}")
    if split is not None and split not in data.splits:
        raise RunError(f"{run.root}: the run has no {split} split (splits: {', '.join(data.splits)})")
    cfg = run.config
    preds: dict[str, dict[str, Any]] = {}
    wanted = None if split is None else [split]

    # Same test-time augmentation as training used, so the numbers reproduce metrics.json.
    def evaluate() -> dict[str, Any]:
        out = evaluate_splits(model, data, run.amp_dtype, preds, wanted, cfg.evaluate.tta)
        if ci is not None:
            for name, p in preds.items():
                out[name]["ci"] = confidence_intervals(
                    p["true"], p["pred"], data.classes, out[name]["per_class"], level=ci
                )
        return out

    metrics, _ = quietly_undefined(evaluate)
    metrics["model"] = model_facts(model, data.input_shape)
    objective_of(metrics, cfg.evaluate, model, data, run.amp_dtype, latency=latency)
    hesitant_out = {
        name: hesitant_predictions(to_predictions(p), data.classes, limit=hesitant)
        for name, p in preds.items()
    }
    return {"run": str(run.root), "metrics": metrics, "hesitant": hesitant_out}
