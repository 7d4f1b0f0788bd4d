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
