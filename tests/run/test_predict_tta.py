"""predict applies the run's ``evaluate.tta``: on its own test images, ``run.predict`` and
``knobwise predict`` reproduce the TTA probabilities of ``predictions.npz``; a tabular run with
``evaluate.tta`` is refused when the config is read."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.cli import main
from knobwise.config import TTAConfig, load_config
from knobwise.errors import ConfigError
from knobwise.metrics import UndefinedMetricWarning, load_predictions
from knobwise.run import BaseRun, predict

TTA = "evaluate.tta={flips: true, shifts: 1}"


@pytest.fixture(scope="module")
def tta_run(digits_png_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 1-epoch run on the PNG digits folder of ``digits_png_run`` with ``evaluate.tta`` set."""
    _, root = digits_png_run
    out = tmp_path_factory.mktemp("tta") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        code = main([
            "train", "--out", str(out), "--quiet",
            "--set", "data.dataset=folder", "--set", f"data.root={root}",
            "--set", "data.split.train=0.6", "--set", "data.split.dev=0.2", "--set", "data.split.test=0.2",
            "--set", "train.epochs=1", "--set", "train.device=cpu", "--set", TTA,
        ])  # fmt: skip
    assert code == 0
    return out, root


def _saved(run_dir: Path, root: Path) -> tuple[list[str], np.ndarray]:
    saved = load_predictions(run_dir / "predictions.npz")["test"]
    assert saved.ids is not None
    return [str(root / i) for i in saved.ids], saved.proba


def test_run_predict_reproduces_the_tta_predictions(tta_run: tuple[Path, Path]) -> None:
    run_dir, root = tta_run
    files, proba = _saved(run_dir, root)
    run = BaseRun(run_dir, device="cpu")
    assert run.config.evaluate.tta is not None
    got = run.predict(files, batch_size=7)  # batches that do not divide the set
    np.testing.assert_allclose(got.proba, proba, atol=1e-5, rtol=0)
    # Without the views the probabilities differ: the agreement above is the TTA's doing.
    plain = predict(run.model, run.meta, files)
    assert np.abs(plain.proba - proba).max() > 1e-3


def test_cli_predict_reproduces_the_tta_predictions(tta_run, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, root = tta_run
    files, proba = _saved(run_dir, root)
    assert main(["predict", str(run_dir), *files, "--top", "10", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = np.array([[dict((t["class"], t["probability"]) for t in p["top"])[c] for c in doc["classes"]]
                    for p in doc["predictions"]])  # fmt: skip
    np.testing.assert_allclose(got, proba, atol=1e-5, rtol=0)


def test_tabular_run_with_tta_is_refused_at_config_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"evaluate\.tta applies to images; data\.dataset wine is tabular"):
        load_config(None, ["data.dataset=wine", "evaluate.tta={flips: true}"])
    assert main(["train", "--set", "data.dataset=wine", "--set", "evaluate.tta={flips: true}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(r"evaluate\.tta applies to images", err), err


def test_predict_with_tta_refuses_a_tabular_model() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2))
    meta = {"classes": ["a", "b"], "input_shape": [2, 1, 1], "data": {"tabular": {"attributes": []}}}
    with pytest.raises(ConfigError, match=r"evaluate\.tta applies to images; this run was trained on tab"):
        predict(model, meta, [{"x": 1.0}], tta=TTAConfig(flips=True))
