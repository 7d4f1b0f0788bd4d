"""A tabular run through the command line: train on a CSV, then errors (attribute importance and
records as attribute rows), report (tables instead of image grids), summary; and bad input."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from knobwise.cli import main
from knobwise.data import tabular_inputs
from knobwise.metrics import load_predictions
from knobwise.run import BaseRun
from knobwise.train import predict_logits


def _csv(path: Path, n: int = 160, gap: int | None = None) -> Path:
    """Records whose class is decided by blood pressure and smoking; sex is noise."""
    rng = np.random.default_rng(1)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient", "pressure", "smoker", "sex", "outcome"])
        for i in range(n):
            pressure, smoker = rng.normal(120, 15), str(rng.choice(["yes", "no"]))
            risky = pressure > 125 or smoker == "yes"
            value = "" if gap is not None and i == gap else f"{pressure:.1f}"
            w.writerow([f"p{i}", value, smoker, str(rng.choice(["f", "m"])), "risk" if risky else "ok"])
    return path


def _config(tmp_path: Path, data_csv: Path) -> Path:
    cfg = {
        "data": {
            "dataset": "csv",
            "root": str(data_csv),
            "target": "outcome",
            "attributes": {"exclude": ["patient", "sex"], "categorical": ["smoker"]},
        },
        "model": {"name": "mlp", "hidden": [16]},
        "train": {
            "epochs": 8,
            "optimizer": {"name": "lbfgs", "lr": 1.0, "line_search": "strong_wolfe"},
            "threads": 1,
        },
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_csv_run_errors_report_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert (
        main(["train", str(_config(tmp_path, _csv(tmp_path / "p.csv"))), "--out", str(run), "--quiet"]) == 0
    )
    meta = json.loads((run / "model.json").read_text())
    tab = meta["data"]["tabular"]
    assert tab["features"] == ["pressure", "smoker=no", "smoker=yes"] and tab["excluded"] == [
        "patient",
        "sex",
    ]
    assert (
        meta["input_shape"] == [3, 1, 1]
        and yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"] == "full"
    )
    capsys.readouterr()

    assert main(["errors", str(run), "--json", "--no-leakage"]) == 0
    out = json.loads(capsys.readouterr().out)
    attrs = out["attributes"]
    assert [r["attribute"] for r in attrs["attributes"]] != [] and attrs["excluded"] == ["patient", "sex"]
    assert {r["attribute"] for r in attrs["attributes"]} == {
        "pressure",
        "smoker",
    }  # excluded ones never appear
    for e in attrs["examples"]:
        assert set(e) >= {"id", "true", "predicted", "pressure", "smoker"} and e["smoker"] in ("yes", "no")

    html = (run / "report.html").read_text()
    assert "records misclassified" in html and "Lowest-confidence dev records" in html
    assert "Permutation importance" in html and "excluded (never reach the model)" in html
    assert not (run / "figures" / "misclassified_dev.png").exists()  # tables, not image grids

    assert main(["summary", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"] == tab["features"]

    # prediction on new records: the same file through the saved encoding gives the saved predictions
    model = BaseRun(run, device="cpu").model
    pred = predict_logits(model, tabular_inputs(tmp_path / "p.csv", meta["data"])).argmax(1).numpy()
    dev = load_predictions(run / "predictions.npz")["dev"]
    assert np.array_equal(pred[dev.index], dev.pred)
    # ... and through `knobwise predict RUN FILE.csv` (the run's own dev records, same probabilities)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "p.csv"), "--json", "--top", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = [printed["predictions"][i] for i in dev.index]
    assert [r["class"] for r in rows] == [printed["classes"][k] for k in dev.pred]
    np.testing.assert_allclose([r["probability"] for r in rows], dev.proba.max(1), atol=1e-5)


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    out = tmp_path / "never"
    code = main(["train", "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists(), "bad input must leave no run directory behind"
    return err


@pytest.mark.parametrize(
    ("sets", "gap", "message"),
    [
        (
            ["data.target=outcom"],
            None,
            r"data\.target: no column 'outcom' in .*p\.csv; did you mean 'outcome'\?",
        ),
        (
            [],
            7,
            r"data\.missing is 'error' and column 'pressure' has 1 missing value\(s\) \(first: p\.csv:9\)",
        ),
        (["train.optimizer.momentum=0.9"], None, r"train\.optimizer\.momentum does not apply to lbfgs"),
        (
            ["data.augment={horizontal_flip: true}"],
            None,
            r"data\.augment applies to images; csv is tabular data",
        ),
    ],
)
def test_bad_tabular_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sets: list[str], gap: int | None, message: str
) -> None:
    cfg = _config(tmp_path, _csv(tmp_path / "p.csv", gap=gap))
    err = _bad(tmp_path, capsys, [str(cfg), *[a for s in sets for a in ("--set", s)]])
    assert re.search(message, err), err
