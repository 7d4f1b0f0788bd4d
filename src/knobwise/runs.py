"""Run directories: the layout, atomic writes, and finding a run again.

A run directory holds ``config.yaml`` (resolved), ``history.csv``, ``metrics.json``,
``model.safetensors`` + ``model.json``, ``checkpoint/``, ``log.txt`` and the report. Every file is
written to a temporary name in the same folder and renamed into place, so a reader (or a resume
after ``kill -9``) never sees half a file.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_json(d / "m.json", {"accuracy": 0.9})
    >>> read_json(d / "m.json")
    {'accuracy': 0.9}
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from knobwise.errors import RunError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "to_json",
    "atomic_save_tensors",
    "read_json",
    "load_tensors",
    "write_csv",
    "RunPaths",
    "new_run_dir",
    "open_run",
    "is_run",
]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)  # paths, datetimes, enums: their text form


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: undefined values are written as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def to_json(obj: Any) -> str:
    """Indented, strict JSON: NaN and infinities become null, tensors and arrays lists.

    >>> to_json({"x": float("nan")})
    '{\\n  "x": null\\n}'
    """
    return json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically; NaN and infinities become null."""
    atomic_write_text(path, to_json(obj) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or malformed file is a :class:`RunError` naming it."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{p}: file not found") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


def atomic_save_tensors(
    path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Save tensors as safetensors atomically (contiguous CPU copies; shared storage is split)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(plain, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file (never pickle)."""
    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p}: file not found")
    return load_file(str(p), device=str(device))


def write_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> None:
    """Write rows of dicts as CSV atomically; the header is the union of keys in order of appearance."""
    if fields is None:
        seen: dict[str, None] = {}
        for row in rows:
            for k in row:
                seen.setdefault(k, None)
        fields = list(seen)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


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
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")


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
        raise RunError(f"{p}: not a knobwise run (no config.yaml with model.json or checkpoint/)")
    return RunPaths(p)
