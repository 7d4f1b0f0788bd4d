"""Diagnosing a run: its errors per split, decomposed against human-level and Bayes error, plus
what its learning curves and gradients say.

Everything about the run (metrics, config, history) comes through :class:`knobwise.run.BaseRun`.

Example:
    >>> run_errors({"train": {"error": 1.5}, "dev": {"error": 3.0}, "model": {}})
    {'train': 1.5, 'dev': 3.0}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from knobwise.diagnose._curves import diagnose_curves
from knobwise.diagnose._decompose import decompose
from knobwise.diagnose._explain_run import surroundings_check
from knobwise.diagnose._gradients import diagnose_gradients
from knobwise.errors import RunError
from knobwise.objective import SPLITS
from knobwise.run import BaseRun, as_run

__all__ = ["run_errors", "diagnose_run"]


def run_errors(metrics: dict[str, Any]) -> dict[str, float]:
    """Per-split error in percent from a ``metrics.json`` mapping (splits without one are left out)."""
    out: dict[str, float] = {}
    for split in SPLITS:
        m = metrics.get(split)
        if isinstance(m, dict) and isinstance(m.get("error"), int | float):
            out[split] = float(m["error"])
    return out


def diagnose_run(
    run: BaseRun | str | Path,
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
    run = as_run(run)
    errs = run_errors(run.metrics)
    if not errs:
        raise RunError(
            f"{run.paths.metrics}: no per-split error in it (expected keys train/dev/test with 'error')"
        )
    cfg = run.config
    raw = cfg.model_dump(mode="json")
    human = human if human is not None else cfg.evaluate.human_error
    bayes = bayes if bayes is not None else cfg.evaluate.bayes_error
    names = {k: f"{run.paths.metrics} {k} error" for k in SPLITS}
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
    # The curve checks read an empty cell as NaN (a value not recorded that epoch).
    rows = [{k: math.nan if v is None else v for k, v in r.items()} for r in run.history]
    out["curves"] = [f.to_dict() for f in diagnose_curves(rows, tolerance, raw)]
    out["gradients"] = [f.to_dict() for f in diagnose_gradients(rows, config=raw)]
    out["run"] = str(run.root)
    if (surroundings := surroundings_check(run, boxes, masks)) is not None:
        out["surroundings"] = surroundings
    return out
