"""`knobwise errors`: the analysis of a run, export -> tags, label issues, leakage, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from knobwise.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("errors") / "run"
    overrides = ["train.epochs=2", "data.limit=400", "model.name=mlp"]
    assert main(["train", "--out", str(out), "--quiet", *[a for o in overrides for a in ("--set", o)]]) == 0
    return out


def test_analysis_json(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors", str(run), "--json", "--top", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    a = out["analysis"]
    assert out["split"] == "dev" and a["examples"] > 0
    assert sum(c["errors"] for c in a["per_class"]) == a["errors"]
    assert len(a["lowest_confidence_correct"]) <= 3 and "confusions" in a
    assert out["leakage"]["exact"] == [] and out["leakage"]["summary"].startswith("leakage check")
    assert main(["errors", str(run), "--split", "test", "--no-leakage"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("test:") and "errors by true class" in text and "leakage" not in text


def test_export_tags_loop(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "errors.csv"
    assert main(["errors", str(run), "--export", str(export), "--no-leakage"]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(export.open()))
    assert rows and all(r["blurry"] == "" for r in rows)
    rows[0]["blurry"] = "x"
    with export.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["errors", str(run), "--tags", str(export), "--json", "--no-leakage"]) == 0
    tags = {t["tag"]: t for t in json.loads(capsys.readouterr().out)["tags"]["tags"]}
    assert tags["blurry"]["errors"] == 1 and tags["blurry"]["share"] == pytest.approx(1 / len(rows))
    rows[0]["predicted"] = "not-a-class"
    with export.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["errors", str(run), "--tags", str(export), "--no-leakage"]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "the rows must come from --export" in err and err.count("\n") == 1


def test_label_issues_csv(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "issues.csv"
    argv = [
        "errors",
        str(run),
        "--label-issues",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--no-leakage",
    ]
    assert main([*argv, "--json"]) == 0
    li = json.loads(capsys.readouterr().out)["label_issues"]
    assert li["csv"] == str(out) and li["settings"]["folds"] == 2
    rows = list(csv.DictReader(out.open()))
    assert len(rows) >= li["flagged"] and {"rank", "index", "label", "suggested", "score"} <= set(rows[0])


def test_errors_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors", str(tmp_path)]) == 2
    assert "not a knobwise run" in capsys.readouterr().err
