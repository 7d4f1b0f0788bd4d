"""Population trials: ``knobwise tune ... --population N`` asks Optuna for N trials at once
(``study.ask``), trains those whose data, model and batch size match as one population in one
fresh process (:func:`knobwise.run.train_members`), reports every member's dev metric
after each epoch to its own trial (a pruned member stops updating while the others go on), and
tells each trial its result. Heartbeats are recorded for every asked trial, so a worker that dies
leaves trials that turn FAIL and are retried, as with one trial at a time.

Example:
    >>> groups = group_by_key(["a", "b", "a"])
    >>> groups
    [[0, 2], [1]]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import optuna
import torch
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

from knobwise.config import config_from_dict
from knobwise.errors import ConfigError
from knobwise.io import atomic_write_json
from knobwise.metrics import measure_latency
from knobwise.run import BaseRun, RunPaths, population_key, train_members
from knobwise.train import Callback, Trainer
from knobwise.tune._objective import Objective, TrialFailed, trial_dir
from knobwise.tune._space import config_with

#: Modules the forkserver imports once, so that each population process starts with them loaded.
PRELOAD = ["knobwise.run", "knobwise.tune._objective", "sklearn.datasets"]

__all__ = ["group_by_key", "run_population_trials"]


def group_by_key(keys: Sequence[str]) -> list[list[int]]:
    """Indices grouped by equal key, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


class _MemberReporter(Callback):
    """In the child: send member ``k``'s monitored dev metric after each epoch; stop it if pruned."""

    def __init__(self, conn: Connection, monitor: str, k: int) -> None:
        self.conn, self.monitor, self.k = conn, monitor, k
        self.pruned_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        try:
            self.conn.send(("epoch", self.k, epoch + 1, float(value)))
            prune = self.conn.recv()
        except (EOFError, OSError):
            os._exit(3)  # the worker died: nobody is left to record these trials
        if prune:
            self.pruned_epoch = epoch + 1
            trainer.stop_reason = (
                f"pruned by the study's pruner after epoch {epoch + 1} ({self.monitor}={value:.4g})"
            )


def _child(conn: Connection, job: dict[str, Any]) -> None:
    """The population process: train the group, send ``("done", [per-member outcome])``."""
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    try:
        cfgs = [config_from_dict(c) for c in job["configs"]]
        runs = [RunPaths(out) for out in job["outs"]]
        reporters = [_MemberReporter(conn, job["monitor"], k) for k in range(len(cfgs))]
        results, _ = train_members(cfgs, runs, callbacks=[[r] for r in reporters], withhold_splits=("test",))
        outcomes: list[tuple[str, Any]] = []
        for result, reporter in zip(results, reporters, strict=True):
            if not isinstance(result, BaseRun):
                outcomes.append(("fail", f"{type(result).__name__}: {result}"))
                continue
            metrics = result.metrics
            if job["latency"] and "latency" not in metrics:
                example = torch.zeros(1, *result.input_shape, device=result.device)
                metrics["latency"] = measure_latency(
                    result.model, example, warmup=5, runs=50, throughput_batch=64, throughput_runs=3
                )
                atomic_write_json(result.paths.metrics, metrics)
            train_s = (time.perf_counter() - started) / len(cfgs)
            outcomes.append(
                ("done", {"metrics": metrics, "pruned_epoch": reporter.pruned_epoch, "train_s": train_s})
            )
        conn.send(("done", outcomes))
    except Exception as exc:  # the whole group failed (bad input, crash): every trial fails
        conn.send(("fail", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _run_group(job: dict[str, Any], on_epoch: Callable[[int, int, float], bool]) -> tuple[str, Any]:
    """Run one population in a fresh process (as one trial is run); returns ``(kind, payload)``."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([*PRELOAD, "knobwise.tune._population"])
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
                return "fail", f"the population process died (exit code {proc.exitcode})"
            if msg[0] == "epoch":
                parent.send(bool(on_epoch(msg[1], msg[2], msg[3])))
                continue
            proc.join()
            return msg[0], msg[1]
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()


def _tell(
    study: optuna.Study,
    objective: Objective,
    trial: optuna.Trial,
    outcome: tuple[str, Any],
    after: Callable[[optuna.Study, optuna.trial.FrozenTrial], object] | None,
) -> None:
    kind, payload = outcome
    try:
        if kind != "done":
            objective._fail(trial, str(payload), {})
        values = objective._finish(trial, payload, {})
        frozen = study.tell(trial, values)
    except optuna.TrialPruned:
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed:
        frozen = study.tell(trial, state=TrialState.FAIL)
    if after is not None:
        after(study, frozen)


def run_population_trials(
    study: optuna.Study,
    objective: Objective,
    n: int,
    *,
    after_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], object] | None = None,
) -> int:
    """Ask ``n`` trials, train them as populations (grouped by data, model and batch size), tell
    every result; returns how many trials ran. ``objective.before`` runs once they are asked."""
    with warnings.catch_warnings():  # Optuna suggests optimize() with heartbeats; they are kept below
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trials = [study.ask() for _ in range(n)]
    for trial in trials:
        trial.set_user_attr("round", objective.round_index)
    if objective.before is not None:
        objective.before()
    with contextlib.ExitStack() as stack:
        for trial in trials:
            stack.enter_context(get_heartbeat_thread(trial._trial_id, study._storage))  # type: ignore[arg-type]
        ready: list[tuple[optuna.Trial, dict[str, Any], str]] = []
        for trial in trials:
            out = trial_dir(objective.study_dir, trial.number)
            for key, value in (
                ("run_dir", str(out)),
                ("host", socket.gethostname()),
                ("worker_pid", os.getpid()),
            ):
                trial.set_user_attr(key, value)
            cfg = config_with(objective.base, objective.space.suggest(trial, objective.base))
            try:
                parsed = config_from_dict(cfg)
            except ConfigError as exc:
                _tell(study, objective, trial, ("fail", f"invalid sampled config: {exc}"), after_trial)
                continue
            ready.append((trial, cfg, population_key(parsed)))
        monitor = objective.monitor_for(objective.objectives.metrics[0])
        single = len(objective.objectives.metrics) == 1
        for group in group_by_key([key for _, _, key in ready]):
            members = [ready[i] for i in group]
            job = {
                "configs": [cfg for _, cfg, _ in members],
                "outs": [str(trial_dir(objective.study_dir, t.number)) for t, _, _ in members],
                "monitor": monitor,
                "latency": objective.objectives.needs_latency,
            }
            started = time.time()

            def on_epoch(k: int, epoch: int, value: float, members: list[Any] = members) -> bool:
                if not single:
                    return False  # Optuna records and prunes intermediate values of one objective only
                trial = members[k][0]
                trial.report(value, epoch)
                return objective.prune and trial.should_prune()

            kind, payload = _run_group(job, on_epoch)
            for k, (trial, _, _) in enumerate(members):
                trial.set_user_attr("duration_s", time.time() - started)
                trial.set_user_attr("population", len(members))
                outcome = payload[k] if kind == "done" else (kind, payload)
                _tell(study, objective, trial, outcome, after_trial)
    return len(trials)


def check_population(n: int) -> None:
    """``--population`` must be a positive count."""
    if n < 1:
        raise ConfigError(f"--population must be >= 1, got {n}")
