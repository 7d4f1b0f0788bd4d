"""The objective: one Optuna trial = one ordinary training run, in a fresh process.

The worker samples the parameters, then a child process (``multiprocessing`` forkserver: started
once per worker with knobwise imported, it forks a clean child per trial) trains the run directory
``trials/NNNN`` with ``train_experiment(..., withhold_splits=("test",))``, so memory cannot leak
from trial to trial and the test split is never loaded. After every epoch the child sends the dev
metric through a pipe; the worker reports it to the trial and answers whether to prune.

Example:
    >>> Objective.monitor_for("accuracy"), Objective.monitor_for("macro.f1")
    ('val_accuracy', 'val_accuracy')
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import optuna
import torch

from knobwise.config import config_from_dict
from knobwise.errors import ConfigError, KnobwiseError
from knobwise.io import atomic_write_json
from knobwise.metrics import check_objective, measure_latency
from knobwise.objective import needs_latency, parse_constraint
from knobwise.run import train_experiment
from knobwise.track import StudyTracking, TrackContext
from knobwise.train import Callback, Trainer
from knobwise.tune._space import config_with

__all__ = ["Objective", "Objectives", "TrialFailed", "run_in_child", "trial_dir"]

#: Modules the forkserver imports once, so that each trial's fork starts with them loaded.
PRELOAD = ["knobwise.run", "knobwise.tune._objective", "sklearn.datasets"]
TRACKER_MODULES = ["mlflow", "torch.utils.tensorboard"]  # a missing one is skipped by the forkserver


class TrialFailed(Exception):
    """A trial that failed for a reason of its own (NaN, diverged, crashed): FAIL, not retried."""


def trial_dir(study_dir: Path, number: int) -> Path:
    """``<study>/trials/NNNN``: the run directory of trial ``number``."""
    return study_dir / "trials" / f"{number:04d}"


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


class _Reporter(Callback):
    """In the child: send the monitored dev metric after every epoch; stop when told to prune."""

    def __init__(self, conn: Connection, monitor: str) -> None:
        self.conn = conn
        self.monitor = monitor
        self.pruned_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        try:
            self.conn.send(("epoch", epoch + 1, float(value)))
            prune = self.conn.recv()
        except (EOFError, OSError):
            os._exit(3)  # the worker died: nobody is left to record this trial
        if prune:
            self.pruned_epoch = epoch + 1
            trainer.stop_reason = (
                f"pruned by the study's pruner after epoch {epoch + 1} ({self.monitor}={value:.4g})"
            )


def _child(conn: Connection, job: dict[str, Any]) -> None:
    """The trial process: train, measure, send ``("done", info)`` or ``("fail", reason)``."""
    warnings.simplefilter("ignore")  # the worker's table shows what matters; stderr stays clean
    started = time.perf_counter()
    try:
        cfg = config_from_dict(job["config"])
        reporter = _Reporter(conn, job["monitor"])
        run = train_experiment(
            cfg,
            job["out"],
            quiet=True,
            callbacks=[reporter],
            withhold_splits=("test",),
            tracking=job.get("track"),
        )
        metrics = run.metrics
        if job["latency"] and "latency" not in metrics:  # the config's own objective may have measured it
            example = torch.zeros(1, *run.input_shape, device=run.device)
            metrics["latency"] = measure_latency(
                run.model, example, warmup=5, runs=50, throughput_batch=64, throughput_runs=3
            )
            atomic_write_json(run.paths.metrics, metrics)
        train_s = time.perf_counter() - started  # the trial's own work, for the overhead benchmark
        conn.send(("done", {"metrics": metrics, "pruned_epoch": reporter.pruned_epoch, "train_s": train_s}))
    except KnobwiseError as exc:
        conn.send(("fail", f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # anything else: the trial failed, the study goes on
        conn.send(("fail", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_in_child(job: dict[str, Any], on_epoch: Callable[[int, float], bool]) -> tuple[str, Any]:
    """Run one trial's training in a fresh process; returns ``(kind, payload)``."""
    ctx = multiprocessing.get_context("forkserver")
    # Trackers import slowly (MLflow ~2 s): load them once in the forkserver, not in every trial.
    ctx.set_forkserver_preload(PRELOAD + (TRACKER_MODULES if job.get("track") is not None else []))
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, job), daemon=True)
    proc.start()
    child.close()
    try:
        while True:
            try:
                msg = parent.recv()
            except EOFError:
                proc.join()
                return "fail", f"the trial process died (exit code {proc.exitcode})"
            if msg[0] == "epoch":
                parent.send(bool(on_epoch(msg[1], msg[2])))
                continue
            proc.join()
            return msg[0], msg[1]
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()


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
        tracking: StudyTracking | None = None,
    ) -> None:
        self.study_dir = study_dir
        self.base = base
        self.space = space
        self.objectives = objectives
        self.round_index = round_index
        self.prune = prune and len(objectives.metrics) == 1
        self.before = before
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
        for key, value in (("run_dir", str(out)), ("round", self.round_index), ("host", socket.gethostname()),
                           ("worker_pid", os.getpid())):  # fmt: skip
            trial.set_user_attr(key, value)
        values = self.space.suggest(trial, self.base)
        cfg = config_with(self.base, values)
        try:
            config_from_dict(cfg)
        except ConfigError as exc:
            return self._fail(trial, f"invalid sampled config: {exc}")
        monitor = self.monitor_for(self.objectives.metrics[0])
        context = self.tracking.begin_trial(trial.number, values, out) if self.tracking else None
        job = {"config": cfg, "out": str(out), "monitor": monitor, "latency": self.objectives.needs_latency}
        job["track"] = context
        started = time.time()
        intermediate: dict[int, float] = {}

        def on_epoch(epoch: int, value: float) -> bool:
            intermediate[epoch] = value
            if len(self.objectives.metrics) > 1:
                return False  # Optuna records and prunes intermediate values of one objective only
            trial.report(value, epoch)  # the learning curve of every trial, pruned or not
            return self.prune and trial.should_prune()

        kind, payload = run_in_child(job, on_epoch)
        trial.set_user_attr("duration_s", time.time() - started)
        try:
            result = self._finish(trial, payload) if kind == "done" else self._fail(trial, str(payload))
        except BaseException as exc:
            state = "PRUNED" if isinstance(exc, optuna.TrialPruned) else "FAIL"
            self._track(trial.number, context, out, state, values, None, intermediate)
            raise
        self._track(trial.number, context, out, "COMPLETE", values, result, intermediate)
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

    def _finish(self, trial: optuna.Trial, info: dict[str, Any]) -> float | list[float]:
        metrics = info["metrics"]
        trial.set_user_attr("epochs", metrics["run"]["epochs"])
        trial.set_user_attr("train_s", info.get("train_s"))
        trial.set_user_attr("params_count", metrics["model"]["params"])
        trial.set_user_attr(
            "dev", {k: v for k, v in metrics.get("dev", {}).items() if isinstance(v, (int, float))}
        )
        if "latency" in metrics:
            trial.set_user_attr("latency_ms", metrics["latency"]["median_ms"])
        if self.objectives.constraints:
            values_c = self.objectives.constraint_values(metrics)
            trial.set_user_attr("constraints", values_c)
            for text, value in zip(self.objectives.constraints, values_c, strict=True):
                trial.set_constraint(text, value)  # TPE, NSGA-II and GP read these (<= 0: feasible)
        if info.get("pruned_epoch") is not None:
            trial.set_user_attr("pruned_epoch", info["pruned_epoch"])
            raise optuna.TrialPruned(f"pruned after epoch {info['pruned_epoch']}")
        values = self.objectives.values(metrics)
        if not all(math.isfinite(v) for v in values):
            names = ", ".join(f"{m}={v}" for m, v in zip(self.objectives.metrics, values, strict=True))
            return self._fail(trial, f"objective is not a finite number ({names})")
        return values[0] if len(values) == 1 else values

    @staticmethod
    def _fail(trial: optuna.Trial, reason: str) -> Any:
        trial.set_user_attr("fail_reason", reason)
        raise TrialFailed(reason)
