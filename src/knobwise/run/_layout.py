"""The run directory's layout: its files, creating a new one, and finding one again.

A run directory holds ``config.yaml`` (resolved), ``history.csv``, ``metrics.json``,
``model.safetensors`` + ``model.json``, ``predictions.npz``, ``checkpoint/``, ``log.txt`` and the
report (``report.html``, ``figures/``). Every file is written atomically (:mod:`knobwise.io`).

Example:
    >>> RunPaths("runs/x").metrics.name
    'metrics.json'
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from knobwise.errors import RunError
from knobwise.io import append_line
from knobwise.run._unfinished import unfinished_message

__all__ = ["RunPaths", "new_run_dir", "open_run", "is_run"]


class RunPaths:
    """The files of one run directory.

    >>> RunPaths("runs/x").metrics.name
    'metrics.json'
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    history = property(lambda self: self.root / "history.csv")
    metrics = property(lambda self: self.root / "metrics.json")
    weights = property(lambda self: self.root / "model.safetensors")
    model_json = property(lambda self: self.root / "model.json")
    checkpoint = property(lambda self: self.root / "checkpoint")
    predictions = property(lambda self: self.root / "predictions.npz")
    report = property(lambda self: self.root / "report.html")
    log = property(lambda self: self.root / "log.txt")

    def log_line(self, line: str) -> None:
        """Append a line to ``log.txt`` (appends are whole lines; the log is for people)."""
        append_line(self.log, line)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def new_run_dir(out: str | Path | None, name: str) -> RunPaths:
    """Create the run directory: ``out`` itself if given, else ``runs/<timestamp>-<name>``.

    An existing non-empty ``out`` that is not a finished run is refused (a run is never
    silently overwritten).
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{stamp}-{_slug(name)}"
        root, i = base, 1
        while root.exists():
            i += 1
            root = base.with_name(f"{base.name}-{i}")
    else:
        root = Path(out)
        if root.exists() and any(root.iterdir()):
            raise RunError(f"--out {root}: folder exists and is not empty; choose a new one or --resume it")
    root.mkdir(parents=True, exist_ok=True)
    return RunPaths(root)


def is_run(path: str | Path) -> bool:
    """Whether ``path`` looks like a knobwise run directory."""
    p = Path(path)
    return (p / "config.yaml").is_file() and ((p / "model.json").is_file() or (p / "checkpoint").is_dir())


def open_run(path: str | Path) -> RunPaths:
    """The :class:`RunPaths` of an existing run; a :class:`RunError` if ``path`` is not one."""
    p = Path(path)
    if not p.exists():
        raise RunError(f"{p}: no such run directory")
    if not is_run(p):
        if (p / "config.yaml").is_file() and (p / "log.txt").is_file():
            raise RunError(unfinished_message(p, "model.json"))  # e.g. stopped on a NaN loss
        raise RunError(f"{p}: not a knobwise run (no config.yaml with model.json or checkpoint/)")
    return RunPaths(p)
