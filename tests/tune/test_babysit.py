"""Babysitting: ``knobwise train --resume RUN --set ...`` continues one model with changed knobs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from tune_helpers import tiny_args

from knobwise.cli import main
from knobwise.errors import ConfigError
from knobwise.run import resume_config


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_resume_with_changed_knobs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    schedule = ["train.schedule.name=step", "train.schedule.step_size=1", "train.schedule.gamma=0.5"]
    assert main(["train", "--out", str(run), "-q", *tiny_args("train.optimizer.lr=0.004", *schedule)]) == 0
    rows = _history(run)
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.004, 0.002])
    # More epochs only: the schedule's progress is kept (the lr is not reset to 0.004).
    assert main(["train", "--resume", str(run), "-q", "--set", "train.epochs=3"]) == 0
    rows = _history(run)
    assert float(rows[2]["lr"]) == pytest.approx(0.001)
    assert rows[2]["knob_change"] == "train.epochs=3"
    # A new learning rate: applied from the next epoch, recorded in that epoch's row and in config.yaml.
    assert (
        main(
            [
                "train",
                "--resume",
                str(run),
                "-q",
                "--set",
                "train.optimizer.lr=0.01",
                "--set",
                "train.epochs=4",
            ]
        )
        == 0
    )
    rows = _history(run)
    assert len(rows) == 4 and [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert float(rows[3]["lr"]) == pytest.approx(0.01)
    assert rows[3]["knob_change"] == "train.optimizer.lr=0.01; train.epochs=4"
    assert all(not r["knob_change"] for r in rows[:2])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["optimizer"]["lr"] == 0.01 and saved["train"]["epochs"] == 4
    assert "knob change at epoch 3: train.optimizer.lr=0.01, train.epochs=4" in (run / "log.txt").read_text()


def test_resume_refuses_changes_the_checkpoint_cannot_take(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "-q", *tiny_args("train.epochs=1")]) == 0
    for key in ("model.options.hidden=[64]", "data.limit=200", "train.optimizer.name=sgd", "seed=3"):
        with pytest.raises(ConfigError, match=rf"--set {key.split('=')[0]}: a resumed run keeps its model"):
            resume_config(run, [key])
