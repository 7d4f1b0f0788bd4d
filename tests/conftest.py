"""Shared fixtures: where the real test data lives (tests never download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$KNOBWISE_DATA_DIR``, else the repository's ``../shared/data`` when it exists."""
    env = os.environ.get("KNOBWISE_DATA_DIR")
    if env:
        return Path(env)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if shared.is_dir():
        return shared
    pytest.fail("no test data: set KNOBWISE_DATA_DIR (see shared/data/README.md); tests never download")


@pytest.fixture(autouse=True, scope="session")
def _data_env(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Configs that name ``${KNOBWISE_DATA_DIR}`` (the shipped examples) resolve in tests too, and
    extracted archives go to a per-session cache instead of ``~/.cache``."""
    os.environ.setdefault("KNOBWISE_DATA_DIR", str(data_dir))
    os.environ.setdefault("KNOBWISE_CACHE_DIR", str(tmp_path_factory.mktemp("knobwise-cache")))


@pytest.fixture(scope="session")
def digits_png_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run directory, image folder): scikit-learn's digits written as 8x8 grayscale PNG files,
    20 per class, and a 2-epoch ``digits_cnn`` run trained on that folder (shared by the predict
    and export tests; the test images' paths are ``test_ids`` in its ``predictions.npz``)."""
    import warnings

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from knobwise.cli import main
    from knobwise.metrics import UndefinedMetricWarning

    base = tmp_path_factory.mktemp("digits-png")
    root = base / "images"
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(digits.target == label)[:20]):
            Image.fromarray(pixels[i]).save(root / str(label) / f"{k:02d}.png")
    out = base / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        code = main([
            "train", "--out", str(out), "--quiet",
            "--set", "data.dataset=folder", "--set", f"data.root={root}",
            "--set", "data.split.train=0.6", "--set", "data.split.dev=0.2", "--set", "data.split.test=0.2",
            "--set", "train.epochs=2", "--set", "train.device=cpu",
        ])  # fmt: skip
    assert code == 0
    return out, root
