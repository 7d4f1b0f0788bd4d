"""Files: atomic writes, strict JSON, CSV and safetensors.

Every file knobwise writes goes to a temporary name in the same folder, is fsynced and renamed
into place, so a reader (or a resume after ``kill -9``) never sees half a file. Tensors are
stored as safetensors: nothing is ever unpickled.

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
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

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
    "read_csv",
    "append_line",
]


def _umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        # mkstemp creates 0600; a run's files get the mode any new file gets (0666 less the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # tensors and numpy arrays
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
    # lazy: safetensors.torch loads torch, which commands that write no tensors never need
    from safetensors.torch import save

    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, save(plain, metadata=metadata))


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file (never pickle)."""
    # lazy: safetensors.torch loads torch, which commands that read no tensors never need
    from safetensors.torch import load_file

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


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV file with numbers as floats (empty cells None, text cells stay text).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.csv"
    >>> write_csv(p, [{"epoch": 1, "loss": 0.5, "note": "x"}])
    >>> read_csv(p)
    [{'epoch': 1.0, 'loss': 0.5, 'note': 'x'}]
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        for k, v in r.items():
            try:
                row[k] = float(v) if v not in (None, "") else None
            except ValueError:
                row[k] = v
        out.append(row)
    return out


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a text file such as a run's ``log.txt`` (appends are whole lines)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
