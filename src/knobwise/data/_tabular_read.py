"""Reading a table: a ``.csv`` file (header row, one record per line) or a ``.parquet`` file
(with pyarrow, an optional extra), as columns of values plus one id per record (``file:line``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from knobwise.errors import DataError

__all__ = ["Columns", "read_table"]

#: Column name -> values (``object`` arrays of text, or numeric arrays with NaN for missing).
Columns = dict[str, np.ndarray]


def _read_csv(path: Path) -> tuple[Columns, np.ndarray]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as a CSV file ({exc})") from exc
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise DataError(f"{path}: empty file; a CSV needs a header row and one row per record")
    header = [h.strip() for h in rows[0]]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup or "" in header:
        what = f"the column name {dup[0]!r} appears twice" if dup else "a column has no name"
        raise DataError(f"{path}: header row: {what}; column names must be unique and non-empty")
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(f"{path}: line {i + 2} has {len(row)} fields but the header has {len(header)}")
    cols = {h: np.array([r[j] for r in body], dtype=object) for j, h in enumerate(header)}
    return cols, np.array([f"{path.name}:{i + 2}" for i in range(len(body))])


def _read_parquet(path: Path) -> tuple[Columns, np.ndarray]:
    try:
        # lazy: pyarrow is optional and only parquet files need it
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path).to_pydict()
    except Exception as exc:  # pyarrow raises its own error types for malformed files
        raise DataError(f"{path}: cannot read as a parquet file ({exc})") from exc
    cols = {}
    for name, values in table.items():
        arr = np.array(values, dtype=object)
        if all(isinstance(v, int | float) and not isinstance(v, bool) or v is None for v in values):
            arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        cols[str(name)] = arr
    n = len(next(iter(cols.values()))) if cols else 0
    return cols, np.array([f"{path.name}[{i}]" for i in range(n)])


def read_table(path: str | Path) -> tuple[Columns, np.ndarray]:
    """The columns of a ``.csv`` (or ``.parquet``) file and one id per row (``file:line``).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,b\\n1,x\\n2,y\\n")
    >>> cols, ids = read_table(p)
    >>> list(cols), ids.tolist()
    (['a', 'b'], ['t.csv:2', 't.csv:3'])
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    return _read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else _read_csv(p)
