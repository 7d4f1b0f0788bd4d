"""The Python API: the snippets of the README's "From Python" section, on one small digits run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import knobwise as kw
from knobwise.errors import ConfigError, RunError
from knobwise.metrics import Predictions

FAST = {"train.epochs": 2, "data.limit": 400}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> kw.Run:
    return kw.train(
        "examples/quickstart.yaml", overrides=FAST, out=tmp_path_factory.mktemp("api") / "r", quiet=True
    )


def test_train_returns_a_run_with_the_files_numbers(run: kw.Run) -> None:
    assert isinstance(run, kw.Run)
    saved = json.loads((run.root / "metrics.json").read_text())
    assert run.metrics["test"]["accuracy"] == saved["test"]["accuracy"]
    assert [int(r["epoch"]) for r in run.history] == [1, 2]
    assert (run.root / "report.html").is_file()
    assert run.config.train.epochs == 2 and run.classes == [str(i) for i in range(10)]
    assert "dev accuracy" in repr(run) and str(run.root) in repr(run)


def test_load_run_evaluates_to_the_same_numbers(run: kw.Run) -> None:
    same = kw.load_run(run.root)
    ev = same.evaluate("dev")
    assert ev["dev"]["accuracy"] == pytest.approx(run.metrics["dev"]["accuracy"])
    text = ev.report()
    assert "precision" in text and "recall" in text and "macro avg" in text
    with pytest.raises(RunError, match="no test split evaluated"):
        ev.report("test")


def test_diagnose_errors_and_html(run: kw.Run) -> None:
    d = run.diagnose(human_error=0.5)
    assert d["verdict"] and d["errors"]["human"] == 0.5 and d["run"] == str(run.root)
    e = run.errors()
    assert e["examples"] == run.metrics["dev"]["n"]
    with pytest.raises(ConfigError, match="top must be >= 1"):
        run.errors(top=0)
    html = run._repr_html_()
    assert "<table>" in html and "data:image/png;base64," in html and "dev" in html


def test_predictions_are_one_type(run: kw.Run) -> None:
    p = run.predictions("test")
    assert isinstance(p, Predictions) and p.proba.shape[1] == 10
    assert len(p) == run.metrics["test"]["n"]
    assert p.confidence.shape == (len(p),)


def test_select_over_runs_and_rows(run: kw.Run) -> None:
    res = kw.select([run], "dev.accuracy", ["params <= 1e9"])
    assert res.winner is not None
    rows = [{"name": "a", "dev.accuracy": 0.9}, {"name": "b", "dev.accuracy": 0.95}]
    assert kw.select(rows, "dev.accuracy").winner == "b"


def test_diagnose_from_error_rates() -> None:
    d = kw.diagnose(train_error=8.0, dev_error=8.5, human_error=1.0)
    assert d["verdict"] == "high bias" and d["avoidable_bias"] == 7.0 and d["variance"] == 0.5


def test_load_run_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no such run directory"):
        kw.load_run(tmp_path / "missing")
    with pytest.raises(RunError, match="not a knobwise run"):
        kw.load_run(tmp_path)


def test_overrides_are_typed_against_the_schema() -> None:
    with pytest.raises(ConfigError, match="train.epoch: unknown key; did you mean 'train.epochs'"):
        kw.train(overrides={"train.epoch": 3})


def _loaded_after(modules: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter holds after ``import {modules}``."""
    code = f"import sys, {modules}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_knobwise_loads_no_heavy_module() -> None:
    assert _loaded_after("knobwise", ("torch", "matplotlib", "optuna", "jinja2", "sklearn")) == []


def test_a_study_loads_neither_the_report_nor_scikit_learn() -> None:
    # knobwise.api and the tune command import the report (matplotlib, jinja2) only to write one,
    # and fANOVA's scikit-learn only at a study's end.
    assert _loaded_after("knobwise.api, knobwise.cli._tune", ("matplotlib", "jinja2", "sklearn")) == []
