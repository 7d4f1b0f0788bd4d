"""The learning curves drawn with Pillow, the heat-map colours, and a run's report without matplotlib."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image

from knobwise.cli import main
from knobwise.report._curves import learning_curves, nice_ticks
from knobwise.report._explain_plots import heat_colors


def _history(epochs: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for e in range(1, epochs + 1):
        rows.append(
            {
                "epoch": e,
                "loss": 2.0 / e**2,  # spans more than a factor of 20: a log axis
                "val_loss": 2.2 / e,
                "accuracy": 1 - 0.5 / e,
                "val_accuracy": 1 - 0.6 / e,
                "lr": 0.01,
            }
        )
    return rows


def test_learning_curves_panels_gaps_scales_and_knob_changes() -> None:
    rows = _history(8)
    rows[3]["val_loss"] = ""  # not recorded that epoch: a gap, not a zero
    rows[5]["knob_change"] = "train.optimizer.lr=0.001"
    fig = learning_curves(rows)
    panels = fig.data["panels"]
    assert panels["loss"] == {"scale": "log", "series": {"train": 8, "dev": 7}}
    assert panels["accuracy"] == {"scale": "linear", "series": {"train": 8, "dev": 8}}
    assert panels["lr"] == {"scale": "linear", "series": {"learning rate": 8}}
    assert fig.data["knob_changes"] == [6.0]
    image = Image.open(io.BytesIO(fig.png))
    assert image.format == "PNG" and image.size == (1500, 400)
    # Every colour of the palette that was drawn is in the picture (blue train, orange dev, green lr).
    pixels = {tuple(p) for p in np.asarray(image.convert("RGB")).reshape(-1, 3)}
    assert {(0, 114, 178), (230, 159, 0), (0, 158, 115)} <= pixels


@pytest.mark.parametrize("epochs", [1, 2, 60])
def test_learning_curves_of_any_length(epochs: int) -> None:
    fig = learning_curves(_history(epochs))
    assert fig.data["panels"]["accuracy"]["series"] == {"train": epochs, "dev": epochs}


def test_a_history_without_metrics_draws_empty_panels() -> None:
    fig = learning_curves([{"epoch": 1}, {"epoch": 2}])
    assert all(p["series"] == {} for p in fig.data["panels"].values())


@pytest.mark.parametrize(
    ("lo", "hi", "integer"), [(0.12, 0.97, False), (0.7875, 0.9943, False), (1, 15, True), (3e-4, 2.5, False)]
)
def test_nice_ticks_cover_the_range_evenly(lo: float, hi: float, integer: bool) -> None:
    ticks = nice_ticks(lo, hi, integer=integer)
    steps = np.diff(ticks)
    assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 11
    assert np.allclose(steps, steps[0]) and (not integer or float(steps[0]).is_integer())


def test_heat_colors_follow_matplotlib_inferno() -> None:
    v = np.linspace(0, 1, 101)
    want = colormaps["inferno"](v)[:, :3] * 255
    assert np.abs(heat_colors(v) * 255 - want).max() <= 5


def test_a_run_report_imports_no_matplotlib(tmp_path: Path) -> None:
    """Without captum (the default install; captum's import loads matplotlib itself) a run's
    report draws everything with Pillow and HTML."""
    run = tmp_path / "run"
    assert main(["train", "--set", "data.limit=300", "--set", "train.epochs=1", "-q", "--out", str(run)]) == 0
    code = (
        "import sys; sys.modules['captum'] = None\n"
        "from knobwise.report import write_run_report\n"
        f"write_run_report({str(run)!r})\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (run / "figures" / "learning_curves.png").is_file()
