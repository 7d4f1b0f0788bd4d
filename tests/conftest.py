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
    pytest.skip("no test data: set KNOBWISE_DATA_DIR (see shared/data/README.md)")
