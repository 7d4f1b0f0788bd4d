"""Several worker processes on SQLite, and resuming a study killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import optuna
from optuna.trial import TrialState
from tune_helpers import load_sqlite_study, tune_cmd, wait_for

from knobwise.cli import main
from knobwise.tune._output import importances


def test_sqlite_with_two_workers_loses_no_trial(tmp_path: Path, lr_space: str) -> None:
    out = tmp_path / "w2"
    proc = subprocess.run(tune_cmd(lr_space, out, "--workers", "2", "--trials", "4"), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    study = load_sqlite_study(out)
    assert study is not None
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert (out / "trials" / f"{t.number:04d}" / "metrics.json").is_file()
    assert sorted(p.name for p in (out / "workers").iterdir()) == ["worker-0.log", "worker-1.log"]
    result = json.loads((out / "study.json").read_text())
    assert result["states"] == {"COMPLETE": 4}
    # fANOVA ran in the process forked for it at the start: the same as computing it here.
    assert result["importances"] == importances(study) and set(result["importances"]) == set(
        study.best_params
    )
    # Each worker trains its trials in its own process: 4 trials, 2 processes.
    assert len({t.user_attrs["worker_pid"] for t in study.trials}) <= 2


def test_resume_after_kill_keeps_finished_trials(tmp_path: Path, lr_space: str) -> None:
    out = tmp_path / "k"
    # 60 epochs: a trial of this tiny MLP lasts seconds even on an idle machine (trials run in the
    # worker's own process, with no process start), so the poll below catches the second one running.
    proc = subprocess.Popen(tune_cmd(lr_space, out, "--trials", "3", epochs=60), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:

        def first_done_second_running() -> list[optuna.trial.FrozenTrial] | None:
            study = load_sqlite_study(out)
            trials = study.get_trials() if study is not None else []
            ok = (
                len(trials) == 2
                and trials[0].state == TrialState.COMPLETE
                and bool(trials[1].intermediate_values)
            )
            return trials if ok and trials[1].state == TrialState.RUNNING else None

        before = wait_for(first_done_second_running)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the tune process, its forkserver and the trial process
        proc.wait()
    assert main(["tune", "--resume", "--out", str(out), "-q"]) == 0
    study = load_sqlite_study(out)
    assert study is not None
    trials = study.get_trials()
    assert trials[0].values == before[0].values and trials[0].state == TrialState.COMPLETE  # kept as it was
    assert trials[1].state == TrialState.FAIL  # interrupted ...
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].params == trials[1].params and retry[0].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3  # ... and the budget of 3 is met
