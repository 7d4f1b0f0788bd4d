"""Shared fixtures: where the real test data lives (tests never download)."""

from __future__ import annotations

import os
import tarfile
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
def cifar_small_tar(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ``cifar10-jpeg/{train,test}/<class>/`` tarball of real CIFAR-10 JPEGs.

    Cut from the real archive's leading ``test/`` part (30 images per class become train, 10
    test), so it reads about a sixth of the archive instead of extracting all 60,000 files.
    """
    real = data_dir / "cifar10-jpeg.tar.gz"
    if not real.is_file():
        pytest.fail(f"{real} not found: the shared test data is required (see shared/data/README.md)")
    out = tmp_path_factory.mktemp("cifar-small") / "cifar10-small.tar.gz"
    taken: dict[str, int] = {}
    with tarfile.open(real, "r|gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            parts = member.name.split("/")
            if parts[1:2] != ["test"] or not member.isfile():
                if parts[1:2] == ["train"]:
                    break
                continue
            n = taken.get(parts[2], 0)
            if n >= 40:
                if len(taken) == 10 and min(taken.values()) >= 40:
                    break
                continue
            taken[parts[2]] = n + 1
            member.name = f"cifar10-jpeg/{'train' if n < 30 else 'test'}/{parts[2]}/{parts[3]}"
            dst.addfile(member, src.extractfile(member))
    return out


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
