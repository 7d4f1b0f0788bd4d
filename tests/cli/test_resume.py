"""Checkpoint and resume, with a real SIGKILL in the middle of an epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from knobwise.cli import main
from knobwise.io import load_tensors

ARGS = [
    "--quiet",
    "--set",
    "train.deterministic=true",
    "--set",
    "train.epochs=5",
    "--set",
    "train.threads=1",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.early_stopping={monitor: val_loss, patience: 2}",
]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_tensors(run / "model.safetensors")


def test_kill_minus_9_mid_epoch_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert main(["train", "--out", str(reference), *ARGS]) == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "knobwise", "train", "--out", str(killed), *ARGS], env=env)
    latest = killed / "checkpoint" / "latest"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if latest.is_file() and latest.read_text().strip() == "epoch-0002":
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    time.sleep(0.3)  # well inside epoch 3
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.safetensors").exists()
    assert latest.read_text().strip() in {"epoch-0002", "epoch-0003"}

    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    ref, got = _weights(reference), _weights(killed)
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    ref_hist = (reference / "history.csv").read_text().splitlines()
    got_hist = (killed / "history.csv").read_text().splitlines()
    assert len(ref_hist) == len(got_hist)
    ref_m, got_m = (
        json.loads((reference / "metrics.json").read_text()),
        json.loads((killed / "metrics.json").read_text()),
    )
    assert ref_m["test"]["accuracy"] == got_m["test"]["accuracy"]


def test_resume_errors(tmp_path: Path, capsys) -> None:
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "not a knobwise run" in capsys.readouterr().err


def test_resume_finished_run_with_more_epochs(tmp_path: Path) -> None:
    run = tmp_path / "r"
    assert (
        main(["train", "--out", str(run), "--quiet", "--set", "train.epochs=1", "--set", "data.limit=300"])
        == 0
    )
    assert main(["train", "--resume", str(run), "--quiet", "--set", "train.epochs=2"]) == 0
    lines = (run / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and "knob_change" in lines[0]
