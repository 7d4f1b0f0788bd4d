"""Learning-curve diagnosis from constructed history.csv files."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from knobwise.diagnose import diagnose_curves, read_history
from knobwise.errors import RunError


def _write(path: Path, rows: list[dict[str, float]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _problems(tmp_path: Path, rows: list[dict[str, float]]) -> dict[str, int | None]:
    found = diagnose_curves(read_history(_write(tmp_path / "history.csv", rows)))
    assert all(f.knobs for f in found), "every finding comes with its knobs"
    return {f.problem: f.epoch for f in found}


def test_healthy_curve_has_no_findings(tmp_path: Path) -> None:
    rows = [
        {
            "epoch": e,
            "loss": 2.0 * 0.6**e,
            "accuracy": 1 - 0.5 * 0.6**e,
            "val_loss": 2.1 * 0.6**e + 0.02,
            "val_accuracy": 1 - 0.5 * 0.6**e - 0.005,
        }
        for e in range(1, 13)
    ]
    assert _problems(tmp_path, rows) == {}


def test_dev_loss_rising_is_overfitting_from_the_epoch_after_the_best(tmp_path: Path) -> None:
    rows = [{"epoch": e, "loss": 1.0 / e, "val_loss": 0.5 + 0.02 * (e - 5) ** 2} for e in range(1, 13)]
    found = _problems(tmp_path, rows)
    assert found["overfitting"] == 6


def test_divergence_and_oscillation_mean_a_large_learning_rate(tmp_path: Path) -> None:
    diverged = [{"epoch": e, "loss": v} for e, v in enumerate([2.3, 1.9, 2.8, 5.0, math.nan], start=1)]
    assert _problems(tmp_path, diverged) == {"lr_too_large": 5}
    up = [{"epoch": e, "loss": v} for e, v in enumerate([2.3, 2.0, 3.1, 4.0, 4.5], start=1)]
    assert _problems(tmp_path, up)["lr_too_large"] is not None
    wobble = [
        {"epoch": e, "loss": v} for e, v in enumerate([1.0, 0.7, 0.9, 0.6, 0.85, 0.55, 0.8, 0.5], start=1)
    ]
    found = _problems(tmp_path, wobble)
    assert found["lr_too_large"] == 3


def test_long_plateau_means_a_small_rate_or_a_saddle(tmp_path: Path) -> None:
    stuck = [{"epoch": e, "loss": 2.302 - 0.001 * e, "accuracy": 0.11} for e in range(1, 11)]
    assert _problems(tmp_path, stuck) == {"lr_too_small": 1}
    converged = [{"epoch": e, "loss": 0.01 - 0.0001 * e, "accuracy": 0.999} for e in range(1, 11)]
    assert _problems(tmp_path, converged) == {}


def test_growing_train_dev_gap(tmp_path: Path) -> None:
    rows = [
        {
            "epoch": e,
            "loss": 1.0 / e,
            "accuracy": min(1.0, 0.8 + 0.02 * e),
            "val_loss": 1.0 / e + 0.01,
            "val_accuracy": 0.8 + 0.002 * e,
        }
        for e in range(1, 11)
    ]
    found = _problems(tmp_path, rows)
    assert "growing_gap" in found and found["growing_gap"] == 6


def test_bad_history_files(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="file not found"):
        read_history(tmp_path / "nope.csv")
    (tmp_path / "h.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunError, match="not a history file"):
        read_history(tmp_path / "h.csv")
