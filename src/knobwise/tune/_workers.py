"""Workers: processes that run a study's trials one at a time until its budget is spent.

A worker loads the study from the storage, takes the budget lock (a file lock in the study
directory, so local workers never overshoot ``--trials``), checks what is left, and runs one trial
through ``study.optimize(n_trials=1)`` — Optuna then records heartbeats, fails stale trials of
dead workers and retries them once. ``--workers N`` starts N such processes (forked from the
``tune`` process where that is safe, :mod:`knobwise.tune._fork`; else ``knobwise tune --worker
I``); with several GPUs each gets its own via ``CUDA_VISIBLE_DEVICES``. A worker trains
its trials in its own process, one after the other, with the data prepared once (see
:mod:`knobwise.tune._objective`); a worker that dies is replaced by a fresh process
(:func:`supervise_workers`).

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
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from knobwise.config import read_yaml
from knobwise.errors import KnobwiseError
from knobwise.track import study_tracking
from knobwise.tune._data_cache import DataCache
from knobwise.tune._fork import ForkedWorker, can_fork, fork_worker
from knobwise.tune._objective import Objective, Objectives, TrialFailed
from knobwise.tune._output import write_results
from knobwise.tune._paths import STORAGE_ENV, resolve_storage
from knobwise.tune._population import run_population_trials
from knobwise.tune._pruners import create_pruner
from knobwise.tune._samplers import create_sampler
from knobwise.tune._space import parse_space
from knobwise.tune._study import (
    StudySettings,
    budget_left,
    counted_trials,
    load_optuna_study,
    open_storage,
    read_settings,
)

__all__ = [
    "run_worker",
    "spawn_workers",
    "start_workers",
    "supervise_workers",
    "worker_main",
    "recover_interrupted",
    "worker_seed",
]

#: This process's prepared data, shared by all the trials it runs (every round of a study too).
_DATA = DataCache()


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
    last_check = time.monotonic()
    while True:
        running = [t for t in counted_trials(study, round_index) if t.state == TrialState.RUNNING]
        if not running or heartbeat is None:
            return False
        # Look often (the last trial of a short study ends any moment: this worker's exit, and the
        # study's end, should not lag by seconds), fail stale trials once per heartbeat interval.
        time.sleep(0.2)
        if time.monotonic() - last_check >= min(float(heartbeat), 2.0):
            last_check = time.monotonic()
            _fail_stale(study)
            if budget_left(study, settings.n_trials, round_index) > 0:
                return True


def build_objective(
    settings: StudySettings, round_index: int, before: Callable[[], None] | None
) -> Objective:
    """The objective of the study's round ``round_index``."""
    space = parse_space(settings.rounds[round_index]["space"], f"round {round_index} space")
    base = read_yaml(settings.paths.config)
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
        data_cache=_DATA,
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
    lock = _BudgetLock(settings.paths.budget_lock)
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
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_main(study_dir: Path, worker: int, deadline: float | None = None) -> int:
    """What ``knobwise tune --worker I --out STUDY_DIR`` runs (and a forked worker): the study's
    trials until its budget is spent, ``study.json`` rewritten after each; returns the exit code."""
    settings = read_settings(study_dir)
    url = resolve_storage(None, settings.dir, settings.storage)
    try:
        record = lambda s, t: write_results(s, settings)  # noqa: E731
        run_worker(settings, url, worker=worker, deadline=deadline, after_trial=record)
    except KnobwiseError as exc:
        print(f"knobwise tune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


Worker = subprocess.Popen[Any] | ForkedWorker


def _start_worker(
    settings: StudySettings, url: str, i: int, n: int, gpus: int, deadline: float | None, fork: bool = False
) -> Worker:
    env = {STORAGE_ENV: url}
    if gpus > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)  # one GPU per worker
    threads = None
    if "OMP_NUM_THREADS" not in os.environ:  # N trials at once share the cores instead of fighting
        threads = max(1, (os.cpu_count() or 1) // n)
        env["OMP_NUM_THREADS"] = str(threads)
    logs = settings.dir / "workers"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"worker-{i}.log"
    if fork:
        return fork_worker(str(log_path), env, threads, lambda: worker_main(settings.dir, i, deadline))
    cmd = [sys.executable, "-m", "knobwise", "tune", "--worker", str(i), "--out", str(settings.dir)]
    if deadline is not None:
        cmd += ["--timeout", str(max(deadline - time.time(), 1.0))]
    with open(log_path, "ab") as log:  # the child has its own copy of the handle
        return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)


def spawn_workers(
    settings: StudySettings, url: str, n: int, timeout: float | None = None
) -> list[subprocess.Popen[Any]]:
    """Start ``n`` worker processes (``knobwise tune --worker I``) for the study's current round
    (logs in ``<study>/workers/``)."""
    gpus = _gpu_count()
    deadline = None if timeout is None else time.time() + timeout
    return [_start_worker(settings, url, i, n, gpus, deadline) for i in range(n)]  # type: ignore[misc]


def start_workers(
    settings: StudySettings, url: str, n: int, deadline: float | None = None
) -> dict[int, Worker]:
    """Start ``n`` workers for the round: forked from this process where :func:`can_fork` allows
    (no second import of everything), spawned otherwise."""
    gpus = _gpu_count()
    fork = can_fork()
    return {i: _start_worker(settings, url, i, n, gpus, deadline, fork) for i in range(n)}


def supervise_workers(
    settings: StudySettings,
    url: str,
    n: int,
    deadline: float | None = None,
    *,
    poll_s: float = 0.2,
    started: dict[int, Worker] | None = None,
) -> list[int]:
    """Run ``n`` workers (``started`` by :func:`start_workers`, or started here) until the round is
    done; returns the exit codes of all of them.

    A worker that dies (killed, or a trial that crashed the process) while the round still has
    work (trials left to start, or trials running, among them the dead worker's, which the
    heartbeat turns FAIL and retries) is replaced by a freshly spawned process: the isolation a
    crashed trial needs. At most ``n_trials`` replacements, so a config that crashes every
    process ends.
    """
    gpus = _gpu_count()
    round_index = len(settings.rounds) - 1
    procs = started if started is not None else start_workers(settings, url, n, deadline)
    study: optuna.Study | None = None
    codes: list[int] = []
    restarts = 0
    try:
        while procs:
            time.sleep(poll_s)
            for i, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                codes.append(code)
                del procs[i]
                if code == 0 or restarts >= settings.n_trials or (deadline and time.time() >= deadline):
                    continue
                study = study or load_optuna_study(
                    open_storage(url, settings.heartbeat, settings.grace), settings.name
                )
                counted = counted_trials(study, round_index)
                busy = any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in counted)
                if busy or budget_left(study, settings.n_trials, round_index) > 0:
                    procs[i] = _start_worker(settings, url, i, n, gpus, deadline)
                    restarts += 1
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
    return codes
