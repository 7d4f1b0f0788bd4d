"""`knobwise train --population N` and `knobwise ensemble`: run folders, the vote recomputed from
the members' saved predictions, and every bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from knobwise.cli import main
from knobwise.metrics import load_predictions
from knobwise.run import vote
from knobwise.train._checkpoint import load_checkpoint

FAST = ["--quiet", "--set", "train.epochs=1", "--set", "data.limit=300", "--set", "model.name=mlp"]


def _plurality(probas: list[np.ndarray]) -> np.ndarray:
    """The vote written out plainly: most top-1 votes, a tie to the highest mean probability."""
    stack = np.stack(probas)
    mean = stack.mean(0)
    out = []
    for i in range(stack.shape[1]):
        counts = np.bincount(stack[:, i].argmax(1), minlength=stack.shape[2])
        tied = np.flatnonzero(counts == counts.max())
        out.append(tied[np.argmax(mean[i, tied])])
    return np.array(out)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop") / "run"
    assert main(["train", "--population", "3", "--out", str(out), *FAST]) == 0
    return out


def test_population_members_are_full_runs(population: Path) -> None:
    for k in range(3):
        member = population / "members" / str(k)
        for name in ("config.yaml", "history.csv", "metrics.json", "model.safetensors", "model.json"):
            assert (member / name).is_file(), (k, name)
        cfg = yaml.safe_load((member / "config.yaml").read_text())
        assert cfg["seed"] == 0 and cfg["train"]["seed"] == k  # one split, a seed per member
    log = (population / "log.txt").read_text()
    assert "population of 3: trained together" in log
    model_json = json.loads((population / "model.json").read_text())
    assert model_json["ensemble"]["vote"] == "plurality"
    assert model_json["ensemble"]["members"] == [
        str((population / "members" / str(k)).resolve()) for k in range(3)
    ]


def test_population_vote_recomputed_from_member_predictions(population: Path) -> None:
    metrics = json.loads((population / "metrics.json").read_text())
    saved = load_predictions(population / "predictions.npz")
    members = [load_predictions(population / "members" / str(k) / "predictions.npz") for k in range(3)]
    for split in ("train", "dev", "test"):
        probas = [m[split].proba for m in members]
        expected = _plurality(probas)
        np.testing.assert_array_equal(saved[split].pred, expected)
        np.testing.assert_allclose(saved[split].proba, np.mean(probas, 0), atol=1e-6)
        true = members[0][split].true
        assert metrics[split]["accuracy"] == pytest.approx(float((expected == true).mean()))
        assert metrics["ensemble"]["splits"][split]["plurality"] == pytest.approx(metrics[split]["accuracy"])
        mean_acc = float((np.mean(probas, 0).argmax(1) == true).mean())
        assert metrics["ensemble"]["splits"][split]["mean"] == pytest.approx(mean_acc)
        assert "macro" in metrics[split] and "per_class" in metrics[split]  # the full family
    assert metrics["objective"]["metric"] == "accuracy"


def test_ensemble_of_runs_with_the_mean_vote(population: Path, tmp_path: Path) -> None:
    runs = [str(population / "members" / str(k)) for k in range(3)]
    out = tmp_path / "vote"
    assert main(["ensemble", *runs, "--vote", "mean", "--out", str(out)]) == 0
    saved = load_predictions(out / "predictions.npz")
    probas = [load_predictions(Path(r) / "predictions.npz")["test"].proba for r in runs]
    np.testing.assert_array_equal(saved["test"].pred, np.mean(probas, 0).argmax(1))
    assert json.loads((out / "model.json").read_text())["ensemble"]["vote"] == "mean"
    assert (out / "report.html").is_file()
    assert main(["select", str(out), "--optimize", "dev.accuracy"]) == 0  # select sees it


def test_vote_ties_go_to_the_highest_mean_probability() -> None:
    p = np.array([[[0.5, 0.2, 0.3]], [[0.1, 0.5, 0.4]], [[0.0, 0.3, 0.7]], [[0.2, 0.45, 0.35]]])
    pred, proba = vote(p, "plurality")  # votes: 0, 1, 2, 1 -> class 1 (2 votes)
    assert pred.tolist() == [1]
    pred, _ = vote(p[:3], "plurality")  # one vote each: mean 0.2, 0.333, 0.467 -> class 2
    assert pred.tolist() == [2]
    np.testing.assert_allclose(proba, p.mean(0), atol=1e-7)


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_ensemble_bad_inputs(population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m0, m1 = str(population / "members" / "0"), str(population / "members" / "1")
    assert main(["ensemble", m0, "--out", str(tmp_path / "a")]) == 2
    assert "an ensemble needs at least 2 runs, got 1" in _err(capsys)
    assert main(["ensemble", m0, str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "no such run directory" in _err(capsys)
    with pytest.raises(SystemExit) as exit_info:  # argparse: exit 2 with its one line
        main(["ensemble", m0, m1, "--vote", "majority"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'majority'" in _err(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_ensemble_refuses_other_classes_and_other_data(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m0 = str(population / "members" / "0")
    other_split = tmp_path / "seed1"
    assert main(["train", "--out", str(other_split), *FAST, "--set", "seed=1"]) == 0
    assert main(["ensemble", m0, str(other_split), "--out", str(tmp_path / "c")]) == 2
    assert "holds other examples than" in _err(capsys)
    renamed = tmp_path / "renamed"
    assert main(["train", "--out", str(renamed), *FAST]) == 0
    meta = json.loads((renamed / "model.json").read_text())
    meta["classes"] = [f"c{i}" for i in range(10)]
    (renamed / "model.json").write_text(json.dumps(meta))
    assert main(["ensemble", m0, str(renamed), "--out", str(tmp_path / "d")]) == 2
    assert "ensemble members must share their classes" in _err(capsys)
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_population_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--population", "0", "--out", str(tmp_path / "p"), *FAST]) == 2
    assert "--population must be >= 1, got 0" in _err(capsys)
    assert not (tmp_path / "p").exists()
    assert main(["train", "--population", "2", "--resume", str(tmp_path / "p")]) == 2
    assert "--population cannot be resumed" in _err(capsys)
    assert (
        main(["train", "--population", "2", "--out", str(tmp_path / "q"), *FAST, "--set", "train.epochs=0"])
        == 2
    )
    assert "train.epochs" in _err(capsys)
    assert not (tmp_path / "q").exists()


def test_ensemble_run_predicts_by_its_vote(population: Path) -> None:
    from knobwise import load_run
    from knobwise.errors import ConfigError, RunError

    run = load_run(population)
    assert run.is_ensemble and len(run.members) == 3
    images = np.random.default_rng(0).integers(0, 256, size=(6, 8, 8), dtype=np.uint8)
    pred = run.predict(images, top=2)
    probas = [m.predict(images).proba for m in run.members]
    np.testing.assert_array_equal(pred.pred, _plurality(probas))
    np.testing.assert_allclose(pred.proba, np.mean(probas, 0), atol=1e-6)
    assert [r[0][0] for r in pred.topk(2)] == pred.classes  # the voted class ranks first
    with pytest.raises(RunError, match="an ensemble of 3 runs has no single model"):
        _ = run.model
    with pytest.raises(ConfigError, match="top must be an integer from 1 to 10"):
        run.predict(images, top=11)


def test_api_population_and_ensemble(population: Path, tmp_path: Path) -> None:
    import knobwise as kw

    overrides = {"train.epochs": 1, "data.limit": 300, "model.name": "mlp", "track.tensorboard": True}
    pop = kw.train(None, overrides, tmp_path / "pop", population=2, vote="mean", quiet=True)
    for k in range(2):  # each member is tracked as its own run
        assert list((tmp_path / "pop" / "members" / str(k) / "tensorboard").glob("events.out.tfevents.*"))
    assert pop.metrics["ensemble"]["vote"] == "mean" and pop.metrics["ensemble"]["population"]["size"] == 2
    assert (tmp_path / "pop" / "report.html").is_file()
    assert (tmp_path / "pop" / "members" / "1" / "report.html").is_file()
    runs = [population / "members" / "0", population / "members" / "2"]
    ens = kw.ensemble(runs, "plurality", tmp_path / "ens", report=False)
    assert ens.metrics["ensemble"]["members"] == [str(r.resolve()) for r in runs]
    assert not (tmp_path / "ens" / "report.html").exists()


def test_a_member_resumes_as_a_standalone_run(tmp_path: Path) -> None:
    """A member's checkpoint holds its slice of the population's (fused) optimizer state, which
    its own optimizer continues from: the digits CNN with Adam, two epochs, then a third."""
    out = tmp_path / "pop"
    tiny = ["--quiet", "--set", "data.limit=300", "--set", "train.epochs=2"]
    assert main(["train", "--population", "2", "--out", str(out), *tiny]) == 0
    member = out / "members" / "0"
    before = list(csv.DictReader((member / "history.csv").open()))
    tensors, _ = load_checkpoint(member / "checkpoint")
    n_train = json.loads((member / "metrics.json").read_text())["train"]["n"]
    assert tensors["optim.0.step"].item() == 2 * math.ceil(n_train / 32)  # every step of both epochs
    assert all(tensors[k].abs().sum() > 0 for k in tensors if k.endswith("exp_avg_sq"))
    assert main(["train", "--resume", str(member), "--quiet", "--set", "train.epochs=3"]) == 0
    after = list(csv.DictReader((member / "history.csv").open()))
    assert [r["epoch"] for r in after] == ["1", "2", "3"]
    assert [r["loss"] for r in after[:2]] == [r["loss"] for r in before]
    assert json.loads((member / "metrics.json").read_text())["run"]["epochs"] == 3
