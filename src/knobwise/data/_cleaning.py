"""The cleaning loop: ``data.exclude: FILE.csv`` drops examples, ``data.relabel: FILE.csv`` corrects labels.

Both files name examples by an ``id`` column (matched against the source's ids, for example
``train[123]`` for MNIST or the file path for folders) or, without one, an ``index`` column (the
position in the source pool, as in ``knobwise errors --label-issues`` output). A relabel file
gives the new class (a class name or number) in the column ``data.relabel_to`` names: ``auto``
takes ``suggested`` when the file has one (the label-issues CSV as written, whose ``label`` is the
given, suspect label) and ``label`` otherwise; ``cluster_majority`` takes the majority label of the
example's k-means cluster (``--label-issues --clusters K``).

The label-issues CSV also lists unflagged "next most suspicious" rows: when a file has a
``flagged`` column, only its flagged rows are relabeled (to ``suggested``) or excluded, and with
``cluster_majority`` only the rows whose ``cluster_disagrees`` is true. Edit those columns to
choose by hand. Cleaning is applied after the split is planned, so the split of every other
example stays exactly where it was: the cleaned run is comparable to the original.

Example:
    >>> rows = [{"index": "3", "label": "1", "suggested": "7", "flagged": "True"},
    ...         {"index": "5", "label": "2", "suggested": "2", "flagged": "False"}]
    >>> relabel_plan(rows, "auto", "data.relabel", "issues.csv")
    ('suggested', [{'index': '3', 'label': '1', 'suggested': '7', 'flagged': 'True'}], 1)
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig
from knobwise.data._source import Source
from knobwise.errors import DataError

__all__ = ["apply_cleaning", "read_cleaning_csv", "relabel_plan", "selected_rows"]

#: For each source column of the new label, the column that says whether a row is meant.
_FLAG_OF = {"suggested": "flagged", "cluster_majority": "cluster_disagrees"}

#: Split name -> (positions in the pool or own test set, whether on the test-set side).
Where = dict[str, tuple[np.ndarray, bool]]


def read_cleaning_csv(path: str | Path, key: str, need_label: bool) -> list[dict[str, str]]:
    """Rows of a cleaning CSV; ``key`` names the config key for messages."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{key}: file {p} not found")
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = list(reader.fieldnames or [])
        rows = list(reader)
    if "id" not in cols and "index" not in cols:
        raise DataError(f"{key}: {p} needs an 'id' or 'index' column (has: {', '.join(cols) or 'no header'})")
    if need_label and not {"label", "suggested", "cluster_majority"} & set(cols):
        raise DataError(f"{key}: {p} needs a 'label' column with the corrected class")
    return rows


def _truthy(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def selected_rows(rows: list[dict[str, str]], flag: str) -> tuple[list[dict[str, str]], int]:
    """The rows meant for cleaning: those whose ``flag`` column is true when the file has that
    column, else all of them; and how many were left out."""
    if not rows or flag not in rows[0]:
        return rows, 0
    kept = [r for r in rows if _truthy(r.get(flag))]
    return kept, len(rows) - len(kept)


def relabel_plan(
    rows: list[dict[str, str]], to: str, key: str, path: str
) -> tuple[str, list[dict[str, str]], int]:
    """(column the new label comes from, the rows to relabel, rows left out as not flagged)."""
    cols = set(rows[0]) if rows else set()
    column = to if to != "auto" else ("suggested" if "suggested" in cols else "label")
    if rows and column not in cols:
        hint = (
            " (written by knobwise errors --label-issues --clusters K)"
            if column == "cluster_majority"
            else ""
        )
        raise DataError(
            f"data.relabel_to: {column!r} is not a column of {path}{hint}; it has: {', '.join(sorted(cols))}"
        )
    flag = _FLAG_OF.get(column)
    kept, skipped = selected_rows(rows, flag) if flag else (rows, 0)
    return column, kept, skipped


def _positions(rows: list[dict[str, str]], src: Source, key: str, path: str) -> list[tuple[int, bool, int]]:
    """(position, test side, row number) of each row, by id when possible, else by pool index."""
    by_id: dict[str, tuple[int, bool]] = {}
    use_id = bool(rows) and "id" in rows[0] and src.ids is not None
    if use_id:
        by_id = {str(v): (i, False) for i, v in enumerate(src.ids)}  # type: ignore[arg-type]
        if src.ids_test is not None:
            by_id.update({str(v): (i, True) for i, v in enumerate(src.ids_test)})
    out = []
    for n, row in enumerate(rows):
        line = n + 2
        if use_id and row.get("id"):  # an empty id (a source without ids) falls back to index
            hit = by_id.get(str(row["id"]))
            if hit is None:
                raise DataError(f"{key}: {path} line {line}: id {row['id']!r} is not in data.dataset")
            out.append((hit[0], hit[1], n))
            continue
        try:
            i = int(row.get("index") or "")
        except ValueError:
            raise DataError(
                f"{key}: {path} line {line}: index {row.get('index')!r} is not an integer"
            ) from None
        if not 0 <= i < len(src.y):
            raise DataError(f"{key}: {path} line {line}: index {i} is outside the pool (0..{len(src.y) - 1})")
        out.append((i, False, n))
    return out


def _label(value: str, classes: list[str], key: str, path: str, line: int) -> int:
    if value in classes:
        return classes.index(value)
    try:
        k = int(value)
    except ValueError:
        k = -1
    if not 0 <= k < len(classes):
        raise DataError(f"{key}: {path} line {line}: label {value!r} is not a class ({', '.join(classes)})")
    return k


def apply_cleaning(cfg: DataConfig, where: Where, src: Source) -> tuple[Where, Source, list[str]]:
    """Drop the ``data.exclude`` examples from every split and apply ``data.relabel``; returns the
    new split positions, the source (with corrected labels) and lines describing what changed."""
    lines: list[str] = []
    if cfg.relabel:
        rows = read_cleaning_csv(cfg.relabel, "data.relabel", need_label=True)
        column, rows, skipped = relabel_plan(rows, cfg.relabel_to, "data.relabel", cfg.relabel)
        y, y_test = src.y.copy(), None if src.y_test is None else src.y_test.copy()
        for pos, test_side, n in _positions(rows, src, "data.relabel", cfg.relabel):
            value = rows[n].get(column) or ""
            target = y_test if test_side else y
            assert target is not None  # an id on the test side implies a test set
            target[pos] = _label(value.strip(), list(src.classes), "data.relabel", cfg.relabel, n + 2)
        changed = int((y != src.y).sum()) + (0 if y_test is None else int((y_test != src.y_test).sum()))
        src = dataclasses.replace(src, y=y, y_test=y_test)
        note = f"; {skipped} listed rows not flagged, left as they are" if skipped else ""
        lines.append(f"data.relabel: {changed} labels changed by {cfg.relabel} (column {column!r}{note})")
    if cfg.exclude:
        rows = read_cleaning_csv(cfg.exclude, "data.exclude", need_label=False)
        rows, skipped_ex = selected_rows(rows, "flagged")
        drop = {(pos, side) for pos, side, _ in _positions(rows, src, "data.exclude", cfg.exclude)}
        dropped: dict[str, int] = {}
        for name, (idx, side) in list(where.items()):
            keep = np.array([(int(i), side) not in drop for i in idx], dtype=bool)
            if not keep.all():
                dropped[name] = int((~keep).sum())
                where[name] = (idx[keep], side)
        if not len(where["train"][0]):
            raise DataError(f"data.exclude: {cfg.exclude} removes every training example")
        per = ", ".join(f"{k} {v}" for k, v in dropped.items()) or "none were in a split"
        if skipped_ex:
            per += f"; {skipped_ex} listed rows not flagged, kept"
        lines.append(
            f"data.exclude: dropped {sum(dropped.values())} examples listed in {cfg.exclude} ({per})"
        )
    return where, src, lines
