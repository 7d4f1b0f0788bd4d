"""Files knobwise writes get the mode of any new file (0666 less the umask), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from knobwise.io import atomic_save_tensors, atomic_write_json, atomic_write_text


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_written_files_follow_the_umask(tmp_path: Path, umask_027: None) -> None:
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_save_tensors(tmp_path / "w.safetensors", {"w": torch.zeros(2)})
    for name in ("a.txt", "m.json", "w.safetensors"):
        assert _mode(tmp_path / name) == 0o640, name
    os.umask(0o022)
    atomic_write_text(tmp_path / "b.txt", "x")
    assert _mode(tmp_path / "b.txt") == 0o644
