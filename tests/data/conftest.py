"""Fixtures for the data tests: a private cache folder and small image trees."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("knobwise-cache")


@pytest.fixture(autouse=True)
def _private_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Extractions and decoded arrays go to a per-session folder, never ~/.cache."""
    monkeypatch.setenv("KNOBWISE_CACHE_DIR", str(session_cache))
    yield


def _write_image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB", seed: int = 0) -> Path:
    """A random PNG of ``size`` (W, H) at ``path``."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def _make_tree(
    root: Path, classes: dict[str, int], mode: str = "RGB", size: tuple[int, int] = (8, 8)
) -> Path:
    """``root/<class>/<i>.png`` with ``classes[class]`` images each."""
    for k, (c, n) in enumerate(classes.items()):
        for i in range(n):
            _write_image(root / c / f"{i:03d}.png", size, mode, seed=1000 * k + i)
    return root


@pytest.fixture
def write_image() -> Callable[..., Path]:
    """``write_image(path, size=(8, 8), mode="RGB", seed=0)`` writes a random PNG."""
    return _write_image


@pytest.fixture
def make_tree() -> Callable[..., Path]:
    """``make_tree(root, {"class": count}, mode="RGB", size=(8, 8))`` writes a flat class tree."""
    return _make_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A train/test image folder with three classes (6/8/10 training, 2/2/3 test images)."""
    base = tmp_path / "imgs"
    _make_tree(base / "train", {"ant": 6, "bee": 8, "cow": 10})
    _make_tree(base / "test", {"ant": 2, "bee": 2, "cow": 3})
    return base


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
