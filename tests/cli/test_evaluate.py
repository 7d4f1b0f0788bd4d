"""knobwise train → metrics.json with the full family → knobwise evaluate reproduces it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from knobwise.cli import main
from knobwise.metrics import UndefinedMetricWarning, load_prediction_classes, load_predictions


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        code = main([
            "train", "--out", str(out), "--quiet",
            "--set", "train.epochs=2", "--set", "data.limit=300",
            "--set", "evaluate.metric=macro.f1",
            "--set", 'evaluate.constraints=["latency_ms <= 10000", "params <= 10"]',
        ])  # fmt: skip
    assert code == 0
    return out


def _evaluate(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_metrics_json_has_the_full_family(run_dir: Path) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    assert {"train", "dev", "test", "model", "run", "latency", "objective"} <= set(m)
    dev = m["dev"]
    for key in ("n", "loss", "accuracy", "error", "per_class", "macro", "weighted", "micro", "hmean",
                "confusion_matrix", "classes", "confidence"):  # fmt: skip
        assert key in dev, key
    assert dev["classes"] == [str(i) for i in range(10)]
    assert sum(map(sum, dev["confusion_matrix"])) == dev["n"]
    assert dev["error"] == pytest.approx(100 * (1 - dev["accuracy"]))
    assert {"specificity", "npv", "lr_plus", "dor", "f1", "tp", "tn"} <= set(dev["per_class"]["3"])
    assert m["model"]["params"] > 10
    # The objective was checked at the end of training; the latency constraint made it measure.
    o = m["objective"]
    assert o["metric"] == "macro.f1" and o["value"] == dev["macro"]["f1"] and o["split"] == "dev"
    assert o["constraints"] == [
        {"expr": "latency_ms <= 10000", "value": m["latency"]["median_ms"], "satisfied": True},
        {"expr": "params <= 10", "value": float(m["model"]["params"]), "satisfied": False},
    ]
    assert "constraint params <= 10" in (run_dir / "log.txt").read_text()


def test_predictions_npz_matches_metrics(run_dir: Path) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    preds = load_predictions(run_dir / "predictions.npz")
    assert set(preds) == {"train", "dev", "test"}
    assert load_prediction_classes(run_dir / "predictions.npz") == m["dev"]["classes"]
    dev = preds["dev"]
    assert len(dev) == m["dev"]["n"] and dev.proba.shape == (m["dev"]["n"], 10)
    np.testing.assert_allclose(dev.proba.sum(1), 1.0, rtol=1e-5)
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (dev.true, dev.pred), 1)
    assert cm.tolist() == m["dev"]["confusion_matrix"]
    assert float(np.median(dev.top1)) == pytest.approx(m["dev"]["confidence"]["top1"]["median"], rel=1e-6)


def test_evaluate_reproduces_metrics_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = json.loads((run_dir / "metrics.json").read_text())
    out = _evaluate(capsys, str(run_dir))
    assert out["metrics"]["dev"]["accuracy"] == saved["dev"]["accuracy"]  # exactly
    assert out["metrics"]["dev"] == saved["dev"]
    assert out["metrics"]["test"]["confusion_matrix"] == saved["test"]["confusion_matrix"]
    # The latency constraint makes evaluate measure latency even without --latency.
    assert out["metrics"]["objective"]["constraints"][0]["value"] == out["metrics"]["latency"]["median_ms"]


def test_evaluate_one_split_with_latency_and_ci(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _evaluate(capsys, str(run_dir), "--split", "test", "--latency", "--ci", "0.9")
    m = out["metrics"]
    assert set(m) == {"test", "model", "latency", "objective"}
    assert {"median_ms", "p95_ms", "throughput_per_s", "device", "torch_version", "threads"} <= set(
        m["latency"]
    )
    assert m["objective"]["split"] == "test" and m["objective"]["constraints"][0]["satisfied"]
    assert m["test"]["ci"]["level"] == 0.9
    assert isinstance(out["hesitant"]["test"], list)


def test_evaluate_text(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert main(["evaluate", str(run_dir), "--split", "dev"]) == 0
    text = capsys.readouterr().out
    assert "dev: classification report" in text and "specificity" in text and "weighted avg" in text
    assert "confusion matrix (rows true, columns predicted)" in text
    assert "95% intervals and n" in text and "n=" in text  # every rate with its interval and n
    assert "objective: macro.f1 on dev" in text


def test_evaluate_bad_input(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a knobwise run" in err
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--split", "train_dev"]) == 2
    assert "the run has no train_dev split (splits: train, dev, test)" in capsys.readouterr().err


def test_evaluate_ci_in_text_and_warnings_as_lines(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(run_dir), "--split", "dev", "--ci", "0.95"]) == 0
    cap = capsys.readouterr()
    assert "dev 95% intervals: accuracy " in cap.out and "macro F1 [" in cap.out
    # library warnings, if any, are one line each: no file paths or source lines
    assert ".py:" not in cap.err and "warn(" not in cap.err
    assert all(line.startswith("warning: ") for line in cap.err.splitlines())
