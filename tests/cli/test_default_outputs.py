"""Output files without an explicit path go into the run directory (errors --export) or next to
the config (lr-find, augment-preview), never into the folder the command was started from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knobwise.cli import main

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


def test_default_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(QUICKSTART, configs / "quickstart.yaml")
    text = QUICKSTART.read_text()
    assert "  normalize: standardize\n" in text
    aug = text.replace(
        "  normalize: standardize\n", "  normalize: standardize\n  augment: {rotation_range: 10}\n"
    )
    (configs / "aug.yaml").write_text(aug)
    fast = ["--set", "data.limit=300", "--set", "train.epochs=1"]
    assert main(["lr-find", str(configs / "quickstart.yaml"), "--steps", "10", *fast]) == 0
    assert (configs / "quickstart.lr_find.png").is_file()
    assert main(["augment-preview", str(configs / "aug.yaml"), "--n", "4", *fast]) == 0
    assert (configs / "aug.augment-preview.png").is_file()
    run = tmp_path / "run"
    assert main(["train", str(configs / "quickstart.yaml"), "--out", str(run), "-q", *fast]) == 0
    assert main(["errors", str(run), "--export"]) == 0
    assert (run / "errors.csv").stat().st_size > 0
    assert list(cwd.iterdir()) == []
