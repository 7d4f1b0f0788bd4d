"""Bad input: a path that is not a run or study is exit code 2 with one line; a run missing
artifacts still gets a report that says what is missing; a failed report keeps the trained run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import assert_clean, check_page

import knobwise as kw
from knobwise.cli import main
from knobwise.config import load_config
from knobwise.errors import TrainingError
from knobwise.train import Callback


@pytest.mark.parametrize("kind", ["empty folder", "missing", "file"])
def test_not_a_run_or_study_is_exit_2_one_line(tmp_path: Path, capsys, kind: str) -> None:
    path = {"empty folder": tmp_path, "missing": tmp_path / "nope", "file": tmp_path / "x.txt"}[kind]
    if kind == "file":
        path.write_text("hello")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert "not a knobwise run or study" in err or "no such run or study" in err


def test_a_study_cannot_be_compared_with_runs(runs: tuple[Path, Path], study_dir: Path, capsys) -> None:
    assert main(["report", str(runs[0]), str(study_dir)]) == 2
    assert "a study cannot be compared with runs" in capsys.readouterr().err


def test_run_missing_artifacts_gets_a_report_with_notes(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "partial"
    shutil.copytree(runs[0], run)
    for name in ("history.csv", "predictions.npz", "model.safetensors", "metrics.json", "report.html"):
        (run / name).unlink()
    shutil.rmtree(run / "figures")
    assert main(["report", str(run)]) == 0
    check = check_page(run / "report.html", tmp_path)
    assert_clean(check, min_images=0)
    assert (
        "Missing: history.csv (not written); metrics.json (not written); predictions.npz (not written)"
        in check.text
    )
    assert "no learning curves: history.csv not written" in check.text
    assert "no metrics: metrics.json not written" in check.text
    assert "neither predictions.npz nor model.safetensors" in check.text
    assert "Model summary" in check.text and "Resolved config" in check.text


class _BlockFigures(Callback):
    """Puts a file where the report's figures folder goes, so writing the report fails."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def on_train_end(self, trainer, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        (self.root / "figures").write_text("in the way")


def test_report_failure_keeps_the_run_and_is_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = load_config(None, ["data.limit=300", "train.epochs=1"])
    with pytest.raises(TrainingError, match="the run is saved but its report failed") as info:
        kw.train(cfg, out=out, quiet=True, callbacks=[_BlockFigures(out)])
    assert info.value.exit_code == 1
    for name in (
        "config.yaml",
        "history.csv",
        "metrics.json",
        "model.safetensors",
        "model.json",
        "predictions.npz",
    ):
        assert (out / name).is_file(), name
    assert "report failed" in (out / "log.txt").read_text()
    (out / "figures").unlink()
    assert main(["report", str(out)]) == 0 and (out / "figures" / "learning_curves.png").is_file()
