"""The training process's device settings: glibc malloc keeps freed activation blocks."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

_PROBE = """
import resource, torch
from knobwise.config import TrainConfig
from knobwise.train._device import configure_backends, keep_freed_memory
configure_backends(TrainConfig(), torch.device("cpu"))
for _ in range(3):  # warm up: the first blocks are new to the process either way
    torch.ones(3 << 20).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a 12 MiB activation allocated, written and freed, as every step does
    torch.ones(3 << 20).sum()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(keep_freed_memory(), faults)
"""


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not (k.startswith("MALLOC_") and k.endswith("_"))}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not _GLIBC, reason="mallopt is glibc's (this platform's malloc is another)")
def test_a_cpu_run_keeps_freed_blocks_in_the_heap() -> None:
    tuned, faults = _probe().split()
    untuned, default_faults = _probe(MALLOC_TOP_PAD_="131072").split()  # the user chose: left alone
    assert (tuned, untuned) == ("True", "False")
    # glibc's default maps and unmaps each block, so every step faults its 3,072 pages in again.
    assert int(default_faults) > 20 * 3000
    assert int(faults) < 1000


@pytest.mark.skipif(not _GLIBC, reason="mallopt is glibc's (this platform's malloc is another)")
def test_a_users_own_malloc_setting_is_left_alone() -> None:
    assert _probe(MALLOC_ARENA_MAX="4").split()[0] == "True"  # not a threshold: still tuned
    assert _probe(MALLOC_TRIM_THRESHOLD_="131072").split()[0] == "False"
    assert _probe(GLIBC_TUNABLES="glibc.malloc.trim_threshold=131072").split()[0] == "False"
