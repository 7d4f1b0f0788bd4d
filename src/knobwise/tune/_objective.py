"""The objective: one Optuna trial = one ordinary training run, in the worker's own process.

The worker samples the parameters and trains the run directory ``trials/NNNN`` with
``train_experiment(..., withhold_splits=("test",))`` right here: a worker runs many trials in one
process, so a trial pays neither a process start nor the first-use costs of torch again. Each trial
builds its own model, optimizer and trainer, seeds the RNG from its config and drops all of it when
it ends; the process-wide settings it may change are put back (:func:`train_trial`). The data is
prepared once per worker and shared by the trials whose data section and seed are the same
(:class:`~knobwise.tune._data_cache.DataCache`); the test split is never loaded. After every epoch
a callback reports the dev metric to the trial and stops training when Optuna prunes it.

A trial that raises fails (FAIL with its reason, not retried) and the worker goes on with the next
one. A trial that kills its process (a segfault, the kernel's out-of-memory killer) takes the worker
with it: with ``--workers N`` the other workers retry it once after the heartbeat's grace period and
a fresh worker process takes the dead one's place; a single worker is continued with ``--resume``,
which retries it.

Example:
    >>> Objective.monitor_for("accuracy"), Objective.monitor_for("macro.f1")
    ('val_accuracy', 'val_accuracy')
"""

from __future__ import annotations

import gc
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch

from knobwise.config import ExperimentConfig, config_from_dict
from knobwise.errors import ConfigError
from knobwise.io import atomic_write_json
from knobwise.metrics import check_objective, measure_latency
from knobwise.objective import needs_latency, parse_constraint
from knobwise.run import train_experiment
from knobwise.track import StudyTracking, TrackContext
from knobwise.train import Callback, Trainer
from knobwise.tune._attrs import set_user_attrs
from knobwise.tune._data_cache import DataCache
from knobwise.tune._paths import StudyPaths
from knobwise.tune._space import config_with

__all__ = ["Objective", "Objectives", "TrialFailed", "train_trial", "trial_dir", "WITHHELD"]

#: Splits a trial never loads: the test split stays unseen until the study is done.
WITHHELD = ("test",)


class TrialFailed(Exception):
    """A trial that failed for a reason of its own (NaN, diverged, crashed): FAIL, not retried."""


def trial_dir(study_dir: Path, number: int) -> Path:
    """``<study>/trials/NNNN``: the run directory of trial ``number``."""
    return StudyPaths(study_dir).trial(number)


@dataclass(frozen=True)
class Objectives:
    """What a trial returns: metric paths with directions, and the satisficing constraints."""

    metrics: tuple[str, ...]
    directions: tuple[str, ...]  # "maximize" / "minimize"
    constraints: tuple[str, ...] = ()

    @property
    def needs_latency(self) -> bool:
        return any(needs_latency(m, self.constraints) for m in self.metrics)

    def values(self, metrics: dict[str, Any]) -> list[float]:
        """The objective values of a finished run's metrics (dev split by default)."""
        out = []
        for m, d in zip(self.metrics, self.directions, strict=True):
            v = check_objective(metrics, m, [], d[:3])["value"]
            out.append(float("nan") if v is None else float(v))
        return out

    def constraint_values(self, metrics: dict[str, Any]) -> list[float]:
        """Optuna's convention: one number per constraint, <= 0 when satisfied."""
        checked = self._check(metrics)["constraints"] if self.constraints else []
        out = []
        for text, c in zip(self.constraints, checked, strict=True):
            con = parse_constraint(text)
            v = c["value"]
            if v is None or not math.isfinite(v):
                out.append(1.0)  # undefined: infeasible
            elif con.op in ("<", "<="):
                out.append(float(v - con.value))
            else:
                out.append(float(con.value - v))
        return out

    def _check(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return check_objective(metrics, self.metrics[0], list(self.constraints), self.directions[0][:3])


class _TrialPruning(Callback):
    """Report the monitored dev metric to the trial after every epoch; stop when Optuna prunes."""

    def __init__(self, trial: optuna.Trial, monitor: str, report: bool, prune: bool) -> None:
        self.trial = trial
        self.monitor = monitor
        self.report = report
        self.prune = prune
        self.pruned_epoch: int | None = None
        self.intermediate: dict[int, float] = {}  # epoch -> monitored value, for the study's tracking

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is not None:
            self.intermediate[epoch + 1] = float(value)
        if value is None or not self.report:
            return  # Optuna records and prunes intermediate values of one objective only
        self.trial.report(float(value), epoch + 1)  # the learning curve of every trial, pruned or not
        if self.prune and self.trial.should_prune():
            self.pruned_epoch = epoch + 1
            trainer.stop_reason = (
                f"pruned by the study's pruner after epoch {epoch + 1} ({self.monitor}={value:.4g})"
            )


@contextmanager
def _trial_globals() -> Iterator[None]:
    """Process-wide settings a trial may change (threads, determinism, warning filters) are put
    back afterwards, so that the next trial in this process starts from the same state."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the worker's table shows what matters; stderr stays clean
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn


def train_trial(
    cfg: ExperimentConfig,
    out: Path,
    callback: _TrialPruning | None,
    *,
    latency: bool,
    data_cache: DataCache | None = None,
    tracking: TrackContext | None = None,
) -> dict[str, Any]:
    """Train one trial's run directory in this process; returns its metrics and how it ended.

    Everything the trial builds (model, optimizer, trainer, run) is local to this call and freed
    when it returns; the global RNG is seeded from the trial's config; the data comes from
    ``data_cache`` (shared, read-only) and never includes the test split; ``tracking`` is the
    trial's run in the study's MLflow / TensorBoard tracking.
    """
    started = time.perf_counter()
    with _trial_globals():
        data = data_cache.get(cfg, WITHHELD) if data_cache is not None else None
        callbacks = [callback] if callback is not None else []
        run = train_experiment(
            cfg, out, quiet=True, callbacks=callbacks, withhold_splits=WITHHELD, data=data, tracking=tracking
        )
        metrics = run.metrics
        if latency and "latency" not in metrics:  # the config's own objective may have measured it
            example = torch.zeros(1, *run.input_shape, device=run.device)
            metrics["latency"] = measure_latency(
                run.model, example, warmup=5, runs=50, throughput_batch=64, throughput_runs=3
            )
            atomic_write_json(run.paths.metrics, metrics)
        device = run.device
        del run, data  # the model and optimizer go now, not with the next collection
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    pruned = callback.pruned_epoch if callback is not None else None
    # train_s: the trial's own work (data, training, evaluation), for the overhead benchmark
    return {"metrics": metrics, "pruned_epoch": pruned, "train_s": time.perf_counter() - started}


class Objective:
    """The callable handed to ``study.optimize``.

    Args:
        study_dir: where ``trials/NNNN`` go.
        base: the base config mapping.
        space: the search space (``suggest(trial, base)``).
        objectives: metric paths, directions and constraints.
        round_index: the coarse-to-fine round the trial belongs to.
        prune: whether to report intermediate values (single objective only).
        before: called first thing in each trial (the worker releases its budget lock there).
        data_cache: the worker's prepared data, shared by its trials (a new cache when None).
        tracking: the study's MLflow / TensorBoard tracking (None: the config has no ``track:``).
    """

    def __init__(
        self,
        study_dir: Path,
        base: dict[str, Any],
        space: Any,
        objectives: Objectives,
        *,
        round_index: int = 0,
        prune: bool = True,
        before: Callable[[], None] | None = None,
        data_cache: DataCache | None = None,
        tracking: StudyTracking | None = None,
    ) -> None:
        self.study_dir = study_dir
        self.base = base
        self.space = space
        self.objectives = objectives
        self.round_index = round_index
        self.prune = prune and len(objectives.metrics) == 1
        self.before = before
        self.data_cache = data_cache if data_cache is not None else DataCache()
        self.tracking = tracking

    @staticmethod
    def monitor_for(metric: str) -> str:
        """The per-epoch log key the pruner watches: ``val_<metric>`` when logged, else val_accuracy."""
        name = metric.removeprefix("dev.")
        return f"val_{name}" if name in ("accuracy", "loss") else "val_accuracy"

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        if self.before is not None:
            self.before()
        out = trial_dir(self.study_dir, trial.number)
        # One write for the facts of the start (recovery and the budget read them while it runs).
        set_user_attrs(trial, {"run_dir": str(out), "round": self.round_index, "host": socket.gethostname(),
                               "worker_pid": os.getpid()})  # fmt: skip
        values = self.space.suggest(trial, self.base)
        cfg = config_with(self.base, values)
        try:
            parsed = config_from_dict(cfg)
        except ConfigError as exc:
            return self._fail(trial, f"invalid sampled config: {exc}", {})
        monitor = self.monitor_for(self.objectives.metrics[0])
        callback = _TrialPruning(trial, monitor, report=len(self.objectives.metrics) == 1, prune=self.prune)
        context = self.tracking.begin_trial(trial.number, values, out) if self.tracking else None
        started = time.time()
        reason = None
        try:
            info = train_trial(
                parsed,
                out,
                callback,
                latency=self.objectives.needs_latency,
                data_cache=self.data_cache,
                tracking=context,
            )
        except Exception as exc:  # KnobwiseError or anything else: the trial failed, the study goes on
            reason = f"{type(exc).__name__}: {exc}"
        attrs: dict[str, Any] = {"duration_s": time.time() - started}
        try:
            if reason is not None:
                gc.collect()  # the failed trial's traceback held its frames (model, tensors) in a cycle
                result = self._fail(trial, reason, attrs)
            else:
                result = self._finish(trial, info, attrs)
        except BaseException as exc:
            state = "PRUNED" if isinstance(exc, optuna.TrialPruned) else "FAIL"
            self._track(trial.number, context, out, state, values, None, callback.intermediate)
            raise
        self._track(trial.number, context, out, "COMPLETE", values, result, callback.intermediate)
        return result

    def _track(
        self,
        number: int,
        context: TrackContext | None,
        out: Path,
        state: str,
        params: dict[str, Any],
        result: float | list[float] | None,
        intermediate: dict[int, float],
    ) -> None:
        """The trial's outcome in the study's tracking (objective values as Optuna received them)."""
        if self.tracking is None or context is None:
            return
        objectives: dict[str, float] = {}
        if result is not None:
            values = result if isinstance(result, list) else [result]
            if len(values) == 1:
                objectives["objective"] = float(values[0])
            else:
                objectives = {
                    f"objective/{m}": float(v) for m, v in zip(self.objectives.metrics, values, strict=True)
                }
        self.tracking.end_trial(number, context, out, state, params, objectives, intermediate)

    def _finish(
        self, trial: optuna.Trial, info: dict[str, Any], attrs: dict[str, Any]
    ) -> float | list[float]:
        """Record the finished run on the trial (one write for the user attributes) and return its values."""
        metrics = info["metrics"]
        attrs["epochs"] = metrics["run"]["epochs"]
        attrs["train_s"] = info.get("train_s")
        attrs["params_count"] = metrics["model"]["params"]
        attrs["dev"] = {k: v for k, v in metrics.get("dev", {}).items() if isinstance(v, (int, float))}
        if "latency" in metrics:
            attrs["latency_ms"] = metrics["latency"]["median_ms"]
        if self.objectives.constraints:
            values_c = self.objectives.constraint_values(metrics)
            attrs["constraints"] = values_c
            for text, value in zip(self.objectives.constraints, values_c, strict=True):
                trial.set_constraint(text, value)  # TPE, NSGA-II and GP read these (<= 0: feasible)
        if info.get("pruned_epoch") is not None:
            attrs["pruned_epoch"] = info["pruned_epoch"]
            set_user_attrs(trial, attrs)
            raise optuna.TrialPruned(f"pruned after epoch {info['pruned_epoch']}")
        values = self.objectives.values(metrics)
        if not all(math.isfinite(v) for v in values):
            names = ", ".join(f"{m}={v}" for m, v in zip(self.objectives.metrics, values, strict=True))
            return self._fail(trial, f"objective is not a finite number ({names})", attrs)
        set_user_attrs(trial, attrs)
        return values[0] if len(values) == 1 else values

    @staticmethod
    def _fail(trial: optuna.Trial, reason: str, attrs: dict[str, Any]) -> Any:
        set_user_attrs(trial, {**attrs, "fail_reason": reason})
        raise TrialFailed(reason)
