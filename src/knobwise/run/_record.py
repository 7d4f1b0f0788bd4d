"""Measurements taken after training that belong in the run: ``evaluate --latency`` writes the
latency into ``metrics.json`` (and re-checks the objective, whose constraints may read it), so a
later ``select`` can hold the run to a latency constraint.

Example:
    >>> import tempfile, pathlib
    >>> from knobwise.io import atomic_write_json, read_json
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_json(root / "metrics.json", {"dev": {"accuracy": 0.9}})
    >>> record_latency(root, {"median_ms": 0.5, "p95_ms": 0.7})
    >>> read_json(root / "metrics.json")["latency"]["median_ms"]
    0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knobwise.errors import KnobwiseError, RunError
from knobwise.io import atomic_write_json, read_json
from knobwise.metrics import check_objective

__all__ = ["record_latency"]


def record_latency(root: str | Path, latency: dict[str, Any], evaluate: Any = None) -> None:
    """Put ``latency`` into ``root/metrics.json``; with ``evaluate`` (the run's
    ``EvaluateConfig``) the saved objective is checked again with it."""
    path = Path(root) / "metrics.json"
    if not path.is_file():
        raise RunError(f"{root}: the run has no metrics.json to record the latency in")
    metrics = read_json(path)
    metrics["latency"] = latency
    if evaluate is not None:
        try:
            metrics["objective"] = check_objective(
                metrics, evaluate.metric, evaluate.constraints, evaluate.direction
            )
        except KnobwiseError:
            pass  # the objective saved at training stays as it was
    atomic_write_json(path, metrics)
