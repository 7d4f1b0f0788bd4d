"""knobwise select over CSV, JSON, run directories and registered loaders."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from knobwise.cli import main
from knobwise.metrics import UndefinedMetricWarning
from knobwise.select import TABLE_LOADERS, register_table_loader

CSV = "model,accuracy,latency_ms,notes\nbig,97%,130,deep\nmid,96%,80,ok\nsmall,93%,20,fast\n"


def _select(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict:
    assert main(["select", *args, "--json"]) == code
    return json.loads(capsys.readouterr().out)


def test_csv_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "cands.csv"
    table.write_text(CSV)
    out = _select(capsys, str(table), "--optimize", "accuracy", "--satisfy", "latency_ms <= 100")
    assert out["winner"] == "mid"
    assert [r["name"] for r in out["ranking"]] == ["mid", "small", "big"]
    assert out["ranking"][2]["violations"] == ["latency_ms <= 100 (got 130)"]
    assert out["ranking"][0]["value"] == pytest.approx(0.96)
    assert _select(capsys, str(table), "--optimize", "accuracy", "--minimize")["winner"] == "small"
    assert main(["select", str(table), "--optimize", "accuracy", "--satisfy", "latency_ms <= 100"]) == 0
    text = capsys.readouterr().out
    assert "winner: mid" in text and "latency_ms <= 100 (got 130)" in text


def test_json_table_and_no_winner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "cands.json"
    table.write_text(
        json.dumps({"a": {"dev": {"f1": 0.8}, "size_mb": 3}, "b": {"dev": {"f1": 0.9}, "size_mb": 9}})
    )
    assert _select(capsys, str(table), "--optimize", "dev.f1")["winner"] == "b"
    out = _select(capsys, str(table), "--optimize", "dev.f1", "--satisfy", "size_mb < 1", code=1)
    assert out["winner"] is None and all(not r["satisfied"] for r in out["ranking"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--optimize", "acc"],
            "no column 'acc'; did you mean 'accuracy'? (columns: name, model, accuracy, latency_ms, notes)",
        ),
        (["--optimize", "mean(accuracy"], "expected ')', got the end at column 14 (mean(accuracy>>)"),
        (
            ["--optimize", "accuracy", "--satisfy", "notes >= 1"],
            "column 'notes' is not numeric (candidate 'big' has 'deep')",
        ),
        (["--optimize", "accuracy", "--satisfy", "latency_ms"], "expected EXPR OP VALUE"),
    ],
)
def test_bad_input_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    table = tmp_path / "cands.csv"
    table.write_text(CSV)
    assert main(["select", str(table), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_not_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["select", str(tmp_path / "notes.txt"), "--optimize", "accuracy"]) == 2
    assert "not a candidate table" in capsys.readouterr().err
    assert main(["select", str(tmp_path / "missing.csv"), "--optimize", "accuracy"]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for name, epochs in (("short", 1), ("longer", 3)):
            args = ["train", "--out", str(runs / name), "--quiet", "--set", f"train.epochs={epochs}"]
            assert main([*args, "--set", "data.limit=200", "--set", "model.name=mlp"]) == 0
    capsys.readouterr()  # the train command's own output
    one = _select(capsys, str(runs / "short"), str(runs / "longer"), "--optimize", "dev.macro.f1")
    both = _select(capsys, str(runs), "--optimize", "dev.macro.f1", "--satisfy", "params <= 1e9")
    assert {r["name"] for r in both["ranking"]} == {"short", "longer"}
    assert one["winner"] == both["winner"]
    assert main(["select", str(runs), "--optimize", "test.accuracy", "--satisfy", "latency_ms <= 5"]) == 2
    assert "no column 'latency_ms'" in capsys.readouterr().err  # not measured in these runs
    # evaluate --latency saves the latency into the run, so select can then hold it to a constraint
    assert main(["evaluate", str(runs / "short"), "--latency", "--json"]) == 0
    capsys.readouterr()
    assert json.loads((runs / "short" / "metrics.json").read_text())["latency"]["median_ms"] > 0
    res = _select(
        capsys, str(runs), "--optimize", "hmean(dev.precision, dev.recall)", "--satisfy", "latency_ms <= 1e4"
    )
    assert res["winner"] == "short"  # dev.precision is the macro precision
    longer = next(r for r in res["ranking"] if r["name"] == "longer")
    assert longer["violations"] == ["latency_ms <= 1e4 (got missing)"]
    # a missing column names the closest few and how to list all, in one line
    assert main(["select", str(runs), "--optimize", "dev.acuracy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'dev.accuracy'" in err
    assert "list them with knobwise select TABLE --columns" in err and len(err) < 400
    assert main(["select", str(runs), "--columns"]) == 0
    columns = capsys.readouterr().out.splitlines()
    assert "dev.macro.precision" in columns and "latency_ms" in columns


def test_registered_loader_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if "test_cands" not in TABLE_LOADERS:
        register_table_loader(
            "test_cands",
            lambda p: p.is_dir() and (p / "cands.txt").is_file(),
            lambda p: [{"name": n, "score": float(s)} for n, s in
                       (line.split() for line in (p / "cands.txt").read_text().splitlines())],
        )  # fmt: skip
    (tmp_path / "cands.txt").write_text("x 0.5\ny 0.7\n")
    assert _select(capsys, str(tmp_path), "--optimize", "score")["winner"] == "y"
    with pytest.raises(TypeError, match="needs both predicate and load"):
        register_table_loader("half", lambda p: True)
