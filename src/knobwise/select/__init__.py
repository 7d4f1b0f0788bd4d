"""Selection: candidate tables (runs, CSV files, studies) and "the best candidate by one metric,
subject to constraints".

Example:
    >>> from knobwise.select import select_candidates
    >>> rows = [{"name": "a", "dev.accuracy": 0.97, "latency_ms": 130},
    ...         {"name": "b", "dev.accuracy": 0.96, "latency_ms": 80}]
    >>> select_candidates(rows, "dev.accuracy", ["latency_ms <= 100"]).winner
    'b'
"""

from knobwise.select._select import Candidate, SelectResult, columns_of, resolve_column, select_candidates
from knobwise.select._tables import TABLE_LOADERS, flatten, load_table, register_table_loader, run_row

__all__ = [
    "Candidate",
    "SelectResult",
    "TABLE_LOADERS",
    "columns_of",
    "resolve_column",
    "flatten",
    "load_table",
    "register_table_loader",
    "run_row",
    "select_candidates",
]
