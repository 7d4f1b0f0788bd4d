"""How many local worker processes a study runs: never more than the cores this process may use.

Worker processes each train one trial; beyond the core count they only share the cores, and
every trial (and the study) gets slower, so ``--workers`` is capped with a warning.

Example:
    >>> cap_workers(1)
    (1, None)
    >>> n, note = cap_workers(usable_cores() + 3)
    >>> n == usable_cores(), note.startswith("warning: --workers")
    (True, True)
"""

from __future__ import annotations

import os

__all__ = ["usable_cores", "cap_workers"]


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cap_workers(workers: int) -> tuple[int, str | None]:
    """``(workers to start, warning or None)``."""
    cores = usable_cores()
    if workers <= cores:
        return workers, None
    return cores, (
        f"warning: --workers {workers} is more than the {cores} CPU core(s) here; starting {cores} "
        "(more processes than cores only share them and make every trial slower)"
    )
