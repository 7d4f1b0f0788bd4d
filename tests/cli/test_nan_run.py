"""A run stopped by a non-finite loss: report and evaluate say so (one line, exit 2) instead of
"not finished; --resume it"."""

from __future__ import annotations

from pathlib import Path

import pytest

from knobwise.cli import main


def test_report_and_evaluate_of_a_nan_run_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nan"
    code = main(
        ["train", "--out", str(out), "--quiet", "--set", "data.limit=300", "--set", "train.epochs=2"]
        + ["--set", "train.optimizer.name=sgd", "--set", "train.optimizer.lr=1e12"]
    )
    assert code == 1 and out.is_dir()
    capsys.readouterr()
    for command in (["report", str(out)], ["evaluate", str(out)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "training stopped: non-finite training loss" in err[0]
        assert "--resume" not in err[0]
