"""``knobwise select TABLE|RUN_DIRS|STUDY... --optimize EXPR [--satisfy "EXPR OP VALUE"]... [--json]``.

Exit code 0 with a winner, 1 when no candidate satisfies every constraint, 2 for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import Any

from rich.console import Console
from rich.table import Table

from knobwise.cli._common import print_json
from knobwise.errors import ConfigError
from knobwise.select import TABLE_LOADERS, SelectResult, columns_of, load_table, select_candidates

#: Packages that register table loaders of their own (study folders); imported when present.
_LOADER_PACKAGES = ("knobwise.tune",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "tables",
        nargs="+",
        metavar="TABLE",
        help="a CSV or JSON table (one row per candidate), run directories, a folder of runs, a study",
    )
    p.add_argument(
        "--optimize",
        metavar="EXPR",
        help="column or metric path, or mean(a, b), hmean(...), min(...), max(...), fbeta(p, r, beta)",
    )
    p.add_argument(
        "--satisfy",
        action="append",
        default=[],
        metavar="'EXPR OP VALUE'",
        help="a constraint such as 'latency_ms <= 100' or 'dev.accuracy >= 96%%'; repeatable",
    )
    way = p.add_mutually_exclusive_group()
    way.add_argument(
        "--maximize",
        dest="direction",
        action="store_const",
        const="max",
        help="maximize EXPR (without --maximize/--minimize: from its name)",
    )
    way.add_argument(
        "--minimize",
        dest="direction",
        action="store_const",
        const="min",
        help="minimize EXPR (without --maximize/--minimize: from its name)",
    )
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.add_argument("--columns", action="store_true", help="list every column of the tables and exit")


def _load_plugins() -> None:
    for name in _LOADER_PACKAGES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def load_rows(paths: list[str]) -> list[dict[str, Any]]:
    """Rows from every path, each through the first of :data:`TABLE_LOADERS` that accepts it."""
    _load_plugins()
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows.extend(load_table(path))
    return rows


def _print(result: SelectResult) -> None:
    console = Console(highlight=False)
    way = "maximize" if result.direction == "max" else "minimize"
    table = Table(
        title=f"{way} {result.optimize}"
        + (f" subject to {', '.join(result.constraints)}" if result.constraints else "")
    )
    for col in ("rank", "candidate", "value", "ok", "violations"):
        table.add_column(col, justify="right" if col in ("rank", "value") else "left")
    for i, c in enumerate(result.ranking, 1):
        value = "missing" if c.value is None else f"{c.value:.6g}"
        table.add_row(str(i), c.name, value, "yes" if c.satisfied else "no", "; ".join(c.violations))
    console.print(table)
    if result.winner is not None:
        console.print(f"winner: {result.winner}")
    else:
        console.print("no candidate satisfies every constraint (and has a value)")


def run(args: argparse.Namespace) -> int:
    rows = load_rows(args.tables)
    if args.columns:
        print("\n".join(columns_of(rows)))
        return 0
    if args.optimize is None:
        raise ConfigError("select: --optimize EXPR is required (or --columns to list the columns)")
    result = select_candidates(rows, args.optimize, args.satisfy, args.direction)
    if args.json:
        print_json(result.to_dict())
    else:
        _print(result)
    return 0 if result.winner is not None else 1


__all__ = ["add_arguments", "run", "load_rows", "TABLE_LOADERS"]
