"""`knobwise tune --population N`: N trials asked together, trained as populations, each told."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from tune_helpers import tiny_args, write_space

from knobwise.cli import main


def test_population_trials_are_told_and_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(
        tmp_path,
        {
            "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "train.batch_size": [16, 32],  # another batch size: another population
        },
    )
    out = tmp_path / "study"
    args = ["tune", "--space", space, "--out", str(out), "--sampler", "random", "--trials", "4"]
    assert main([*args, "--population", "4", "--quiet", "--json", *tiny_args()]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"]["population"] == 4
    study = optuna.load_study(study_name=result["name"], storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    sizes = [t.params["train.batch_size"] for t in trials]
    for t in trials:
        # the trials of one batch size were trained together, each reported every epoch
        assert t.user_attrs["population"] == sizes.count(t.params["train.batch_size"])
        assert sorted(t.intermediate_values) == [1, 2]
        run = Path(t.user_attrs["run_dir"])
        assert (run / "metrics.json").is_file() and not (run / "predictions.npz").read_bytes() == b""
        dev = json.loads((run / "metrics.json").read_text())["dev"]["accuracy"]
        assert t.value == pytest.approx(dev)
        assert "test" not in json.loads((run / "metrics.json").read_text())  # tuning never reads test


def test_population_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": [0.01, 0.02]})
    code = main(["tune", "--space", space, "--out", str(tmp_path / "s"), "--population", "0", *tiny_args()])
    assert code == 2
    assert "--population must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
