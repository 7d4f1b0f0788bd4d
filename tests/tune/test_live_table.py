"""At 80 columns (COLUMNS=80, or piped) the tune table and the epoch lines keep every value on
one line: no cell folded across lines, nothing wrapped inside a field."""

from __future__ import annotations

import io
import sys

import optuna
import pytest
from rich.console import Console

from knobwise.train._progress import EpochProgress
from knobwise.tune._output import live_table
from knobwise.tune._study import StudySettings

SPACE = {
    "train.optimizer.lr": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "train.optimizer.name": {"type": "categorical", "choices": ["sgd", "adam"]},
    "train.optimizer.momentum": {"type": "float", "low": 0.5, "high": 0.99},
    "train.optimizer.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
}


def _study() -> tuple[optuna.Study, StudySettings]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("train.optimizer.lr", 1e-4, 0.3, log=True)
        trial.suggest_categorical("train.batch_size", [16, 32, 64])
        trial.suggest_categorical("train.optimizer.name", ["sgd", "adam"])
        trial.suggest_float("train.optimizer.momentum", 0.5, 0.99)
        trial.suggest_float("train.optimizer.weight_decay", 1e-6, 1e-2, log=True)
        trial.set_user_attr("epochs", 15)
        trial.set_user_attr("duration_s", 12.3456)
        return 0.987654321

    study.optimize(objective, n_trials=4)
    settings = StudySettings(
        "quickstart-space", "studies/x", "sqlite://", ["accuracy"], ["maximize"], [], "accuracy",
        rounds=[{"index": 0, "space": SPACE}],
    )  # fmt: skip
    return study, settings


@pytest.mark.parametrize("width", [80, 60, 200])
def test_live_table_keeps_every_value_on_one_line(width: int) -> None:
    study, settings = _study()
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(live_table(study, settings, width=width))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(len(line) <= width for line in text.splitlines())
    rows = [line for line in text.splitlines() if "complete" in line.lower() and "│" in line]
    assert len(rows) == 4  # one line per trial: nothing folded onto a second line
    for t in study.trials:
        assert f"{t.params['train.optimizer.lr']:.4g}" in text or "not shown" in text
        assert "0.9877" in text
    if width == 200:
        assert (
            "not shown" not in text
            and f"{study.trials[0].params['train.optimizer.weight_decay']:.4g}" in text
        )
    if width == 60:
        assert "not shown (too narrow): " in text


def test_piped_epoch_line_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setenv("COLUMNS", "80")
    progress = EpochProgress(20)
    logs = {"loss": 1.332412, "accuracy": 0.5919, "val_loss": 0.32471, "val_accuracy": 0.9111, "lr": 0.003}
    progress.end_epoch(0, {**logs, "time": 10.8})
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 80
    assert lines[0].endswith("val_accuracy 91.11% - lr 0.003 - 10.8s")
