"""Workers: processes that run a study's trials one at a time until its budget is spent.

A worker loads the study from the storage, takes the budget lock (a file lock in the study
directory, so local workers never overshoot ``--trials``), checks what is left, and runs one trial
through ``study.optimize(n_trials=1)`` — Optuna then records heartbeats, fails stale trials of
dead workers and retries them once. ``--workers N`` starts N such processes (``knobwise tune
--worker I``); with several GPUs each gets its own via ``CUDA_VISIBLE_DEVICES``. Every trial
itself trains in a fresh child process (see :mod:`knobwise.tune._objective`).

Example:
    >>> worker_seed(0, 0, 0), worker_seed(0, 1, 0) != worker_seed(0, 0, 0)
    (0, True)
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from knobwise.config import read_yaml
from knobwise.track import study_tracking
from knobwise.tune._objective import Objective, Objectives, TrialFailed
from knobwise.tune._population import run_population_trials
from knobwise.tune._pruners import create_pruner
from knobwise.tune._samplers import create_sampler
from knobwise.tune._space import parse_space
from knobwise.tune._study import StudySettings, budget_left, counted_trials, load_optuna_study, open_storage

__all__ = ["run_worker", "spawn_workers", "recover_interrupted", "worker_seed", "STORAGE_ENV"]

#: The real storage URL travels to worker processes in the environment (study.json masks passwords).
STORAGE_ENV = "KNOBWISE_TUNE_STORAGE"


def worker_seed(seed: int, worker: int, n_existing: int) -> int:
    """Different sampler seeds for different workers and for each resume, reproducible otherwise."""
    return seed + 1_000 * worker + 7_919 * n_existing


class _BudgetLock:
    """An exclusive ``flock`` on ``<study>/.budget.lock``, released at the start of each trial."""

    def __init__(self, path: Path) -> None:
        self.fh: IO[str] = open(path, "a")  # noqa: SIM115 - held for the worker's lifetime
        self.held = False

    def acquire(self) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.release()
        self.fh.close()


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _wait_for_others(study: optuna.Study, settings: StudySettings, round_index: int) -> bool:
    """The budget is spent but other trials still run: wait for them (a dead worker's trial turns
    FAIL after the grace period and its retry becomes WAITING). True when there is work again."""
    heartbeat = (
        study._storage.get_heartbeat_interval() if hasattr(study._storage, "get_heartbeat_interval") else None
    )
    while True:
        running = [t for t in counted_trials(study, round_index) if t.state == TrialState.RUNNING]
        if not running or heartbeat is None:
            return False
        time.sleep(min(float(heartbeat), 2.0))
        _fail_stale(study)
        if budget_left(study, settings.n_trials, round_index) > 0:
            return True


def build_objective(
    settings: StudySettings, round_index: int, before: Callable[[], None] | None
) -> Objective:
    """The objective of the study's round ``round_index``."""
    space = parse_space(settings.rounds[round_index]["space"], f"round {round_index} space")
    base = read_yaml(settings.dir / "config.yaml")
    objectives = Objectives(
        tuple(settings.objectives), tuple(settings.directions), tuple(settings.constraints)
    )
    prune = settings.pruner != "none"
    tracking = study_tracking(base, settings.dir, settings.name, settings.tracking)
    return Objective(
        settings.dir,
        base,
        space,
        objectives,
        round_index=round_index,
        prune=prune,
        before=before,
        tracking=tracking,
    )


def open_study(settings: StudySettings, url: str, worker: int = 0) -> optuna.Study:
    """Load the study with this round's sampler and the study's pruner."""
    round_index = len(settings.rounds) - 1
    space = parse_space(settings.rounds[round_index]["space"], f"round {round_index} space")
    storage = open_storage(url, settings.heartbeat, settings.grace)
    probe = load_optuna_study(storage, settings.name)
    n_existing = len(probe.get_trials(deepcopy=False))
    sampler = create_sampler(
        settings.sampler,
        space=space,
        seed=worker_seed(settings.seed, worker, n_existing),
        n_objectives=len(settings.objectives),
        n_trials=settings.n_trials,
    )
    pruner = create_pruner(
        settings.pruner,
        epochs=settings.epochs,
        startup_trials=settings.pruner_startup,
        warmup_epochs=settings.pruner_warmup,
    )
    return load_optuna_study(storage, settings.name, sampler, pruner)


def run_worker(
    settings: StudySettings,
    url: str,
    *,
    worker: int = 0,
    deadline: float | None = None,
    after_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], object] | None = None,
) -> int:
    """Run trials of the study's current round until its budget is spent; returns how many ran."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are shown in knobwise's table
    round_index = len(settings.rounds) - 1
    study = open_study(settings, url, worker)
    lock = _BudgetLock(settings.dir / ".budget.lock")
    objective = build_objective(settings, round_index, lock.release)

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if after_trial is not None:
            after_trial(study, trial)

    ran = 0
    try:
        while deadline is None or time.time() < deadline:
            lock.acquire()
            try:
                if budget_left(study, settings.n_trials, round_index) <= 0:
                    lock.release()
                    if _wait_for_others(study, settings, round_index):
                        continue
                    break
                if settings.population > 1:  # N trials asked together, trained as populations
                    _fail_stale(study)
                    n = min(settings.population, budget_left(study, settings.n_trials, round_index))
                    ran += run_population_trials(study, objective, n, after_trial=record)
                    continue
                study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=[record])
                ran += 1
            finally:
                lock.release()
    finally:
        lock.close()
    return ran


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(study: optuna.Study) -> list[int]:
    """On ``--resume``: trials of this machine whose worker is gone (RUNNING with a dead pid) become
    FAIL, and every trial that failed because it was interrupted (not for a reason of its own) is
    retried once with the same parameters. Returns the numbers of the retried trials."""
    host = socket.gethostname()
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("worker_pid")
        if t.user_attrs.get("host") == host and isinstance(pid, int) and not _pid_alive(pid):
            try:
                storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    for t in trials:
        if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs and t.number not in retried:
            before = len(study.get_trials(deepcopy=False))
            retry(study, t)
            if len(study.get_trials(deepcopy=False)) > before:
                out.append(t.number)
    return out


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def spawn_workers(
    settings: StudySettings, url: str, n: int, timeout: float | None = None
) -> list[subprocess.Popen[Any]]:
    """Start ``n`` worker processes for the study's current round (logs in ``<study>/workers/``)."""
    gpus = _gpu_count()
    logs = settings.dir / "workers"
    logs.mkdir(exist_ok=True)
    procs = []
    for i in range(n):
        env = dict(os.environ)
        env[STORAGE_ENV] = url
        if gpus > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)  # one GPU per worker
        if "OMP_NUM_THREADS" not in os.environ:  # N trials at once share the cores instead of fighting
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
        cmd = [sys.executable, "-m", "knobwise", "tune", "--worker", str(i), "--out", str(settings.dir)]
        if timeout is not None:
            cmd += ["--timeout", str(timeout)]
        log = open(logs / f"worker-{i}.log", "ab")  # noqa: SIM115 - owned by the child from here on
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs
