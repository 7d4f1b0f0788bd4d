"""Candidate tables for ``knobwise select``: loaders from paths to rows.

:data:`TABLE_LOADERS` maps a loader name to ``(predicate(path) -> bool, load(path) -> rows)``;
each row is a dict with a ``"name"`` key and one entry per column. Built in: ``csv``, ``json``,
``run`` (a run directory: its ``metrics.json`` flattened into columns such as ``dev.accuracy``,
``test.macro.f1``, ``params``, ``latency_ms``) and ``runs`` (a folder whose children are runs,
tried only when no other loader claims the folder). Other packages add theirs with
:func:`register_table_loader` (the tuning package registers study folders).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("model,acc\\nsmall,0.9\\n")
    >>> load_table(p)
    [{'name': 'small', 'model': 'small', 'acc': '0.9'}]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knobwise.errors import DataError, RunError
from knobwise.io import read_json
from knobwise.objective import RUN_MEASURES, SPLITS, parse_number
from knobwise.registry import Registry
from knobwise.run import is_run

__all__ = [
    "TABLE_LOADERS",
    "TableLoader",
    "register_table_loader",
    "load_table",
    "run_row",
    "flatten",
]

TableLoader = tuple[Callable[[Path], bool], Callable[[Path], list[dict[str, Any]]]]
#: name → (predicate(path), load(path)); see the module docstring.
TABLE_LOADERS: Registry[TableLoader] = Registry("table loader", key="select TABLE")
#: Loaders tried only when no other loader claims a path (they claim too broadly).
_FALLBACK = ("runs",)


def register_table_loader(
    name: str,
    predicate: Callable[[Path], bool] | None = None,
    load: Callable[[Path], list[dict[str, Any]]] | None = None,
) -> Any:
    """Register a table loader: ``register_table_loader("study", is_study, load_study)``, or as a
    decorator of a ``(predicate, load)`` pair: ``register_table_loader("study")((is_study, load))``.
    """
    if predicate is not None and load is not None:
        return TABLE_LOADERS.register(name)((predicate, load))
    if predicate is not None or load is not None:
        raise TypeError("register_table_loader needs both predicate and load, or neither")
    return TABLE_LOADERS.register(name)


def flatten(obj: dict[str, Any], prefix: str = "", *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (lists are left out).

    >>> flatten({"a": {"b": 1, "c": [1]}, "d": 2})
    {'a.b': 1, 'd': 2}
    """
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k in skip:
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}.", skip=skip))
        elif not isinstance(v, (list, tuple)):
            out[key] = v
    return out


def _numberish(value: Any) -> bool:
    try:
        return parse_number(value) is not None
    except (TypeError, ValueError):
        return False


def _named(rows: list[dict[str, Any]], source: Path) -> list[dict[str, Any]]:
    """Give every row a ``name``: its own, else the first text column, else ``row N``."""
    if not rows:
        raise DataError(f"{source}: the table has no rows")
    out = []
    first = next(iter(rows[0]), None)
    use_first = first is not None and first != "name" and not any(_numberish(r.get(first)) for r in rows)
    for i, row in enumerate(rows):
        name = row.get("name")
        if name in (None, "") and use_first:
            name = row.get(first)  # type: ignore[arg-type]
        out.append({"name": str(name) if name not in (None, "") else f"row {i + 1}", **row})
    return out


def _load_csv(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the table ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise DataError(f"{path}: the table is empty (expected a header row and one row per candidate)")
    rows = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k} for r in reader]
    return _named(rows, path)


def _load_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON table ({exc})") from None
    if isinstance(data, dict):
        for key in ("rows", "candidates", "trials", "runs"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            if data and all(isinstance(v, dict) for v in data.values()):
                data = [{"name": k, **v} for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: a JSON table is a list of objects (one per candidate) or {{name: object}}")
    return _named([flatten(r) for r in data], path)


def run_row(root: Path) -> dict[str, Any]:
    """One row from a run's ``metrics.json``: ``{split}.{metric}`` columns for every split, the
    model's ``params``/``size_mb``/``depth``, ``latency_ms``/``latency_p95_ms``/``throughput``
    when measured, the ``objective`` value and the ``epochs`` trained."""
    metrics_path = root / "metrics.json"
    if not metrics_path.is_file():
        raise RunError(f"{root}: the run has no metrics.json (it has not finished; --resume it)")
    metrics = read_json(metrics_path)
    row: dict[str, Any] = {"name": root.name, "path": str(root)}
    skip = ("confusion_matrix", "classes", "ci", "hesitant_rule", "positive")
    for split in SPLITS:
        if isinstance(metrics.get(split), dict):
            row.update(flatten(metrics[split], f"{split}.", skip=skip))
    for col, (section, key) in RUN_MEASURES.items():
        if isinstance(metrics.get(section), dict) and key in metrics[section]:
            row[col] = metrics[section][key]
    objective = metrics.get("objective")
    if isinstance(objective, dict):
        row["objective"] = objective.get("value")
    run = metrics.get("run")
    if isinstance(run, dict):
        row["epochs"] = run.get("epochs")
        row["duration_s"] = run.get("duration_s")
    return row


def _is_run_folder(path: Path) -> bool:
    return path.is_dir() and not is_run(path) and any(is_run(c) for c in path.iterdir() if c.is_dir())


def _load_run_folder(path: Path) -> list[dict[str, Any]]:
    runs = sorted(c for c in path.iterdir() if c.is_dir() and is_run(c) and (c / "metrics.json").is_file())
    if not runs:
        raise RunError(f"{path}: none of its runs has finished (no metrics.json)")
    return [run_row(c) for c in runs]


register_table_loader("csv", lambda p: p.is_file() and p.suffix.lower() == ".csv", _load_csv)
register_table_loader("json", lambda p: p.is_file() and p.suffix.lower() == ".json", _load_json)
register_table_loader("run", lambda p: p.is_dir() and is_run(p), lambda p: [run_row(p)])
register_table_loader("runs", _is_run_folder, _load_run_folder)


def load_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows from ``path`` with the first loader whose predicate accepts it (fallbacks last).

    A path no loader accepts is a :class:`RunError` naming what is accepted.
    """
    p = Path(path)
    if not p.exists():
        raise RunError(f"{p}: no such file or directory")
    names = [n for n in TABLE_LOADERS.names() if n not in _FALLBACK] + [
        n for n in _FALLBACK if n in TABLE_LOADERS
    ]
    for name in names:
        predicate, load = TABLE_LOADERS.get(name)
        if predicate(p):
            return load(p)
    raise RunError(
        f"{p}: not a candidate table; expected a .csv or .json table, a run directory or a folder "
        f"of runs (loaders: {', '.join(names)})"
    )
