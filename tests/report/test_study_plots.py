"""The study report's parallel coordinates draw every complete trial, also those without a
conditional parameter (at an "n/a" level), and a multi-objective study's importances name
their objective."""

from __future__ import annotations

from pathlib import Path

import optuna

from knobwise.report._plots import NA_POSITION
from knobwise.report._study import _importances, _plots_of


def _conditional_trials() -> list[optuna.trial.FrozenTrial]:
    """Ten complete trials of the README's space: momentum only when the optimizer is sgd."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train.optimizer.lr", 1e-4, 0.3, log=True)
        name = trial.suggest_categorical("train.optimizer.name", ["sgd", "adam"])
        if name == "sgd":
            trial.suggest_float("train.optimizer.momentum", 0.5, 0.99)
        return 1.0 - abs(lr - 0.01)

    study.optimize(objective, n_trials=10)
    return study.trials


def test_parallel_coordinates_draw_every_complete_trial() -> None:
    trials = _conditional_trials()
    with_momentum = sum("train.optimizer.momentum" in t.params for t in trials)
    assert 0 < with_momentum < len(trials)  # the case that used to drop trials
    section = _plots_of(trials, {"directions": ["maximize"]}, ["accuracy"])
    figure = next(f for f in section.figures if f.name == "study_parallel")
    lines = figure.data["lines"]
    assert len(lines) == len(trials) == 10
    momentum_axis = figure.data["axes"].index("train.optimizer.momentum")
    assert sum(line[momentum_axis] == NA_POSITION for line in lines) == len(trials) - with_momentum


def test_multi_objective_importances_name_their_objective(tmp_path: Path) -> None:
    info = {"importances": {"train.optimizer.lr": 0.8, "train.batch_size": 0.2}}
    section = _importances([], info, tmp_path, ["dev accuracy", "latency_ms"])
    text = " ".join(section.notes)
    assert "importances for the first objective, dev accuracy (not for latency_ms)" in text
