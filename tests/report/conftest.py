"""Tiny trained runs and a tiny study for the report tests (digits, a few hundred images, 1-2 epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from knobwise.cli import main

TINY = ["--set", "data.limit=300", "--set", "train.epochs=2", "-q"]


def train(out: Path, *extra: str) -> Path:
    """Train a tiny digits run into ``out`` through the command line; its report is written too."""
    rc = main(["train", *TINY, *extra, "--out", str(out)])
    assert rc == 0, f"knobwise train exited {rc}"
    return out


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two finished runs that differ in their learning rate."""
    base = tmp_path_factory.mktemp("runs")
    a = train(base / "adam-lr3e-3", "--set", "name=adam-lr3e-3")
    b = train(base / "adam-lr3e-2", "--set", "name=adam-lr3e-2", "--set", "train.optimizer.lr=0.03")
    return a, b


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-objective study in the layout ``knobwise tune`` writes (study.json, study.db,
    trials/NNNN run directories), made with Optuna directly: dev accuracy up, training time down."""
    root = tmp_path_factory.mktemp("study")
    url = f"sqlite:///{root / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="lr-search",
        storage=url,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        lr = trial.suggest_float("train.optimizer.lr", 1e-3, 1e-1, log=True)
        batch = trial.suggest_categorical("train.batch_size", [16, 64])
        run = root / "trials" / f"{trial.number:04d}"
        train(
            run,
            "--set",
            f"train.optimizer.lr={lr}",
            "--set",
            f"train.batch_size={batch}",
            "--set",
            "train.epochs=1",
            "--set",
            f"name=trial-{trial.number}",
        )
        trial.set_user_attr("run_dir", str(run))
        metrics = json.loads((run / "metrics.json").read_text())
        return metrics["dev"]["accuracy"], metrics["run"]["duration_s"]

    study.optimize(objective, n_trials=3)
    best = [
        {"number": t.number, "values": list(t.values), "params": t.params, "run_dir": t.user_attrs["run_dir"]}
        for t in study.best_trials
    ]
    importances = optuna.importance.get_param_importances(study, target=lambda t: t.values[0])
    info = {
        "name": "lr-search",
        "storage": url,
        "directions": ["maximize", "minimize"],
        "objectives": ["accuracy", "duration_s"],
        "metric": "accuracy",
        "sampler": "random",
        "pruner": "none",
        "n_trials": 3,
        "best_trials": best,
        "importances": importances,
        "rounds": [],
    }
    (root / "study.json").write_text(json.dumps(info, indent=2))
    return root
