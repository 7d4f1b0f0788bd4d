"""What the diagnosis reads from a run directory: errors, config, history and predictions.

Predictions come from the run's ``predictions.npz`` when it has one; otherwise they are computed
from the trained model on the run's own data split (``prepare_data`` is deterministic in the
config and seed, so it is the split the run was trained and evaluated on).

Example:
    >>> run_errors({"train": {"error": 1.5}, "dev": {"error": 3.0}, "model": {}})
    {'train': 1.5, 'dev': 3.0}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import ExperimentConfig, config_from_dict, read_yaml
from knobwise.errors import RunError
from knobwise.metrics import Predictions, load_prediction_classes, load_predictions
from knobwise.runs import RunPaths, open_run, read_json

__all__ = ["run_errors", "load_run_metrics", "load_run_config", "run_predictions", "predictions_for"]

_SPLITS = ("train", "train_dev", "dev", "test")


def run_errors(metrics: dict[str, Any]) -> dict[str, float]:
    """Per-split error in percent from a ``metrics.json`` mapping (splits without one are left out)."""
    out: dict[str, float] = {}
    for split in _SPLITS:
        m = metrics.get(split)
        if isinstance(m, dict) and isinstance(m.get("error"), int | float):
            out[split] = float(m["error"])
    return out


def load_run_metrics(run_dir: str | Path) -> tuple[RunPaths, dict[str, Any]]:
    """The run and its ``metrics.json``; a run without metrics is a :class:`RunError`."""
    run = open_run(run_dir)
    if not run.metrics.is_file():
        raise RunError(f"{run.root}: no metrics.json (the run has not finished; --resume it)")
    metrics = read_json(run.metrics)
    if not isinstance(metrics, dict) or not run_errors(metrics):
        raise RunError(f"{run.metrics}: no per-split error in it (expected keys train/dev/test with 'error')")
    return run, metrics


def load_run_config(run: RunPaths) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The run's resolved config, validated and as the plain mapping it was saved as."""
    raw = read_yaml(run.config)
    return config_from_dict(raw), raw


@torch.no_grad()
def predictions_for(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    index: np.ndarray,
    ids: np.ndarray | None = None,
    source: np.ndarray | None = None,
) -> Predictions:
    """:class:`Predictions` of ``model`` on one device-resident split."""
    from knobwise.train import predict_logits

    proba = torch.softmax(predict_logits(model, x), dim=1).cpu().numpy().astype(np.float32)
    return Predictions(
        index=np.asarray(index, dtype=np.int64),
        true=y.cpu().numpy().astype(np.int64),
        pred=proba.argmax(1).astype(np.int64),
        proba=proba,
        ids=None if ids is None else np.asarray(ids).astype(str),
        source=None if source is None else np.asarray(source).astype(str),
    )


def run_predictions(run_dir: str | Path, split: str) -> tuple[Predictions, list[str]]:
    """The predictions of one split of a run and the class names."""
    run = open_run(run_dir)
    if run.predictions.is_file():
        preds = load_predictions(run.predictions)
        if split in preds:
            return preds[split], load_prediction_classes(run.predictions)
    from knobwise.data import prepare_data
    from knobwise.experiment import load_trained

    cfg, _ = load_run_config(run)
    model, meta = load_trained(run.root)
    data = prepare_data(cfg.data, seed=cfg.seed, device="cpu")
    if split not in data.splits:
        raise RunError(f"{run.root}: has no {split} split (splits: {', '.join(data.splits)})")
    s = data.splits[split]
    return predictions_for(model, s.x, s.y, s.index, s.ids, s.groups), list(
        meta.get("classes") or data.classes
    )


def diagnose_run(
    run_dir: str | Path,
    *,
    human: float | None = None,
    bayes: float | None = None,
    tolerance: float = 1.0,
    boxes: str | Path | None = None,
    masks: str | Path | None = None,
) -> dict[str, Any]:
    """Decomposition of a run's errors plus its learning-curve and gradient findings (JSON-able).

    Human-level and Bayes error come from the arguments, else from ``evaluate.human_error`` /
    ``evaluate.bayes_error`` in the run's config. A run without ``metrics.json`` is a RunError.
    With object ``boxes`` or ``masks`` (or a saved ``knobwise explain --boxes`` verdict) the result
    has ``surroundings``: the attribution mass inside the objects and a warning when most is outside.
    """
    from knobwise.diagnose._curves import diagnose_curves, read_history
    from knobwise.diagnose._decompose import decompose
    from knobwise.diagnose._gradients import diagnose_gradients

    run, metrics = load_run_metrics(run_dir)
    cfg, raw = load_run_config(run)
    errs = run_errors(metrics)
    human = human if human is not None else cfg.evaluate.human_error
    bayes = bayes if bayes is not None else cfg.evaluate.bayes_error
    names = {k: f"{run.metrics} {k} error" for k in ("train", "train_dev", "dev", "test")}
    d = decompose(
        train=errs.get("train"),
        train_dev=errs.get("train_dev"),
        dev=errs.get("dev"),
        test=errs.get("test"),
        human=human,
        bayes=bayes,
        tolerance=tolerance,
        config=raw,
        names=names,
    )
    out = d.to_dict()
    rows = read_history(run.history) if run.history.is_file() else []
    out["curves"] = [f.to_dict() for f in diagnose_curves(rows, tolerance, raw)]
    out["gradients"] = [f.to_dict() for f in diagnose_gradients(rows, config=raw)]
    out["run"] = str(run.root)
    from knobwise.diagnose._explain_run import surroundings_check

    if (surroundings := surroundings_check(run.root, boxes, masks)) is not None:
        out["surroundings"] = surroundings
    return out
