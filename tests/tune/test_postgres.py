"""A real PostgreSQL storage: parallel workers, and a worker killed with SIGKILL mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import optuna
from optuna.trial import TrialState
from tune_helpers import tune_cmd, wait_for


def _study(url: str, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return None


def test_two_workers_three_trials_each(tmp_path: Path, lr_space: str, postgres_url: str) -> None:
    name = f"pg-{uuid.uuid4().hex[:8]}"
    cmd = tune_cmd(lr_space, tmp_path / "s", "--storage", postgres_url, "--study", name, "--workers", "2",
                   "--trials", "6")  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    study = _study(postgres_url, name)
    assert study is not None
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 6 and sorted(t.number for t in finished) == list(range(6))
    assert "knobwise:" not in (tmp_path / "s" / "study.json").read_text() or "***" not in postgres_url


def test_killed_worker_trial_fails_after_grace_and_is_retried(
    tmp_path: Path, lr_space: str, postgres_url: str
) -> None:
    name = f"kill-{uuid.uuid4().hex[:8]}"
    # 60 epochs: trials run in their worker's own process and start at once, so a shorter one
    # could finish between the poll that finds it running and the kill.
    cmd = tune_cmd(lr_space, tmp_path / "s", "--storage", postgres_url, "--study", name, "--workers", "2",
                   "--trials", "4", "--heartbeat", "1", "--grace", "3", epochs=60)  # fmt: skip
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:

        def running_trial() -> optuna.trial.FrozenTrial | None:
            study = _study(postgres_url, name)
            for t in study.get_trials() if study is not None else []:
                if t.state == TrialState.RUNNING and t.intermediate_values and "worker_pid" in t.user_attrs:
                    return t
            return None

        victim = wait_for(running_trial)
        snapshot = {t.number: (t.state, t.values) for t in _study(postgres_url, name).get_trials()}  # type: ignore[union-attr]
        os.kill(victim.user_attrs["worker_pid"], signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    trials = {t.number: t for t in _study(postgres_url, name).get_trials()}  # type: ignore[union-attr]
    assert trials[victim.number].state == TrialState.FAIL
    assert "fail_reason" not in trials[victim.number].user_attrs  # failed by the heartbeat, not by itself
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == victim.params
    for number, (state, values) in snapshot.items():  # no other trial changed state
        if number != victim.number and state != TrialState.RUNNING:
            assert (trials[number].state, trials[number].values) == (state, values)
        elif number != victim.number:
            assert trials[number].state == TrialState.COMPLETE  # the other worker's trial finished normally
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 4
