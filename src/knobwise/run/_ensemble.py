"""Ensembles of finished runs: a plurality vote (ties broken by the mean probability) or the mean
probability, written as a run directory like any other.

The members' saved per-example probabilities (``predictions.npz``) are combined split by split;
the ensemble run holds ``metrics.json`` (the full metric family per split, and an ``ensemble``
section with both votes and every member's accuracy), ``predictions.npz``, ``model.json`` (with an
``ensemble`` key naming the member runs and the vote, from which :class:`~knobwise.run.BaseRun`
loads the members' models to predict new inputs). The report is written above this layer
(:func:`knobwise.api.ensemble`, the population's :func:`knobwise.api.train`).

Example:
    >>> import numpy as np
    >>> probas = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.45, 0.55]]])  # 3 members, 1 example
    >>> pred, proba = vote(probas, "plurality")
    >>> pred.tolist(), [round(float(v), 3) for v in proba[0]]
    ([1], [0.45, 0.55])
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import knobwise
from knobwise.config import config_from_dict, read_yaml
from knobwise.errors import ConfigError, KnobwiseError, RunError
from knobwise.io import atomic_write_json, atomic_write_text, read_json
from knobwise.metrics import (
    Predictions,
    UndefinedMetricWarning,
    check_objective,
    classification_metrics,
    load_predictions,
    save_predictions,
)
from knobwise.run._layout import RunPaths, new_run_dir, open_run

__all__ = ["VOTES", "vote", "Member", "load_members", "write_ensemble", "ensemble_section"]

#: The ways members are combined.
VOTES = ("plurality", "mean")


def vote(probas: Sequence[np.ndarray] | np.ndarray, how: str = "plurality") -> tuple[np.ndarray, np.ndarray]:
    """Combine the members' ``(n, K)`` probabilities: ``(pred, proba)`` with ``proba`` the mean.

    ``plurality``: each member votes for its top class and the class with most votes wins; a tie
    goes to the tied class with the highest mean probability. ``mean``: the class with the
    highest mean probability.

    >>> p = np.array([[[0.9, 0.1, 0.0]], [[0.0, 0.6, 0.4]], [[0.0, 0.45, 0.55]]])
    >>> vote(p, "plurality")[0].tolist(), vote(p, "mean")[0].tolist()
    ([1], [1])
    >>> vote(p[:2], "plurality")[0].tolist()  # one vote each for 0 and 1: 0 has the higher mean
    [0]
    """
    if how not in VOTES:
        raise ConfigError(f"--vote must be one of {', '.join(VOTES)}, got {how!r}")
    stack = np.asarray(probas, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise ValueError(f"probas must be (members, examples, classes), got shape {stack.shape}")
    mean = stack.mean(0)
    if how == "mean":
        return mean.argmax(1), mean.astype(np.float32)
    k = stack.shape[2]
    counts = np.eye(k, dtype=np.int64)[stack.argmax(2)].sum(0)  # (n, K) votes per class
    tied = counts == counts.max(1, keepdims=True)
    pred = np.where(tied, mean, -np.inf).argmax(1)
    return pred, mean.astype(np.float32)


@dataclass
class Member:
    """A finished run taking part in an ensemble."""

    root: Path
    model: dict[str, Any]
    metrics: dict[str, Any]
    predictions: dict[str, Predictions]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.get("classes", [])]


def _member(path: str | Path) -> Member:
    run = open_run(path)
    for f in (run.model_json, run.metrics, run.predictions):
        if not f.is_file():
            raise RunError(
                f"{run.root}: no {f.name} (the run has not finished); an ensemble needs finished runs"
            )
    return Member(
        run.root.resolve(),
        read_json(run.model_json),
        read_json(run.metrics),
        load_predictions(run.predictions),
    )


def load_members(paths: Sequence[str | Path], min_members: int = 2) -> list[Member]:
    """The runs ``paths`` as ensemble members, checked for the same classes, the same input shape
    and dataset, and the same examples in every split they share (else a :class:`ConfigError`)."""
    if len(paths) < min_members:
        raise ConfigError(f"an ensemble needs at least {min_members} runs, got {len(paths)}")
    members = [_member(p) for p in paths]
    first = members[0]
    for m in members[1:]:
        if m.classes != first.classes:
            raise ConfigError(
                f"{m.root}: classes {m.classes} differ from {first.root}'s {first.classes}; "
                "ensemble members must share their classes"
            )
        shape, dataset = m.model.get("input_shape"), m.model.get("data", {}).get("dataset")
        if shape != first.model.get("input_shape") or dataset != first.model.get("data", {}).get("dataset"):
            raise ConfigError(
                f"{m.root}: input {shape} of dataset {dataset!r} differs from {first.root}'s "
                f"{first.model.get('input_shape')} of {first.model.get('data', {}).get('dataset')!r}; "
                "ensemble members must take the same inputs"
            )
        for split in set(m.predictions) & set(first.predictions):
            a, b = first.predictions[split], m.predictions[split]
            if len(a) != len(b) or not (np.array_equal(a.index, b.index) and np.array_equal(a.true, b.true)):
                raise ConfigError(
                    f"{m.root}: its {split} split holds other examples than {first.root}'s (different data "
                    "or split seed); ensemble members must be evaluated on the same data"
                )
    if not set.intersection(*(set(m.predictions) for m in members)):  # noqa: C417
        raise ConfigError(
            "the runs share no evaluated split; ensemble members must be evaluated on the same data"
        )
    return members


def _splits(members: Sequence[Member]) -> list[str]:
    common = set.intersection(*(set(m.predictions) for m in members))
    return [s for s in members[0].predictions if s in common]


def ensemble_section(members: Sequence[Member], how: str) -> dict[str, Any]:
    """The ``ensemble`` part of ``metrics.json``: the vote used, the members, and per split the
    accuracy of both votes and of every member."""
    section: dict[str, Any] = {"vote": how, "members": [str(m.root) for m in members], "splits": {}}
    for split in _splits(members):
        true = members[0].predictions[split].true
        probas = [m.predictions[split].proba for m in members]
        row: dict[str, Any] = {}
        for v in VOTES:
            row[v] = float((vote(probas, v)[0] == true).mean()) if len(true) else None
        row["members"] = [float((p.argmax(1) == true).mean()) if len(true) else None for p in probas]
        section["splits"][split] = row
    return section


def write_ensemble(
    paths: Sequence[str | Path],
    how: str = "plurality",
    out: str | Path | None = None,
    *,
    run: RunPaths | None = None,
    log: Any = None,
    min_members: int = 2,
    population: dict[str, Any] | None = None,
) -> tuple[RunPaths, dict[str, Any]]:
    """Combine the finished runs ``paths`` with ``how`` into the run ``out`` (or the existing
    folder ``run``, as a population does, recording ``population`` facts in the ``ensemble``
    section); returns the run and its metrics."""
    if how not in VOTES:
        raise ConfigError(f"--vote must be one of {', '.join(VOTES)}, got {how!r}")
    started = time.time()
    members = load_members(paths, min_members)
    first = members[0]
    classes = first.classes
    target = run if run is not None else new_run_dir(out, f"ensemble-{len(members)}")
    metrics: dict[str, Any] = {}
    per_split: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # written as null, as in any run
        for split in _splits(members):
            ref = first.predictions[split]
            pred, proba = vote([m.predictions[split].proba for m in members], how)
            metrics[split] = classification_metrics(ref.true, pred, classes, proba) if len(ref) else {"n": 0}
            per_split[split] = {
                "index": ref.index,
                "true": ref.true,
                "pred": pred,
                "proba": proba,
                "ids": ref.ids,
                "source": ref.source,
            }
    params = sum(int(m.metrics.get("model", {}).get("params") or 0) for m in members)
    metrics["model"] = {"params": params, "members": len(members)}
    metrics["run"] = {
        "epochs": None,
        "duration_s": time.time() - started,
        "knobwise_version": knobwise.__version__,
    }
    metrics["ensemble"] = ensemble_section(members, how)
    if population is not None:
        metrics["ensemble"]["population"] = population
    ev = config_from_dict(read_yaml(first.root / "config.yaml")).evaluate
    try:
        metrics["objective"] = check_objective(metrics, ev.metric, ev.constraints, ev.direction)
    except KnobwiseError as exc:  # an objective the ensemble cannot measure (latency) is noted
        metrics["objective"] = {"metric": ev.metric, "value": None, "constraints": [], "error": str(exc)}
    config_text = (first.root / "config.yaml").read_text(encoding="utf-8")
    atomic_write_text(
        target.config,
        f"# ensemble ({how} vote) of {len(members)} runs; each member's own config is in its run folder\n"
        + config_text,
    )
    model_json = {
        "ensemble": {"members": [str(m.root) for m in members], "vote": how},
        "classes": classes,
        "input_shape": first.model.get("input_shape"),
        "data": first.model.get("data"),
        "knobwise_version": knobwise.__version__,
    }
    atomic_write_json(target.model_json, model_json)
    save_predictions(target.predictions, per_split, classes)
    atomic_write_json(target.metrics, metrics)
    for split, row in metrics["ensemble"]["splits"].items():
        line = f"{split}: {how} vote {_pct(row[how])}, members " + ", ".join(_pct(a) for a in row["members"])
        if log is not None:
            log(line)  # the population's logger also writes the run's log
        else:
            target.log_line(line)
    return target, metrics


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"
