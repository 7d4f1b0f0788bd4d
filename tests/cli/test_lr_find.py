"""`knobwise lr-find`: a suggestion, a PNG plot, JSON output and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knobwise.cli import main


def test_lr_find_writes_a_plot_and_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "lr.png"
    argv = [
        "lr-find",
        "--set",
        "model.name=mlp",
        "--set",
        "data.limit=400",
        "--steps",
        "60",
        "--plot",
        str(plot),
    ]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 1e-7 <= out["suggestion"] <= 10 and out["steps"] <= 60 and out["plot"] == str(plot)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(argv) == 0
    assert "suggested learning rate:" in capsys.readouterr().out


def test_lr_find_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lr-find", "--steps", "5", "--plot", str(tmp_path / "x.png")]) == 2
    assert "--steps must be >= 10" in capsys.readouterr().err
    assert main(["lr-find", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
