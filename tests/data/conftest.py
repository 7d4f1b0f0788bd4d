"""Fixtures for the data tests: a private cache folder and small image trees."""

from __future__ import annotations

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
