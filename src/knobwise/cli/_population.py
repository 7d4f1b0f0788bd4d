"""The ``--population N`` branch of ``knobwise train``: parsing and printing only."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from knobwise.cli._common import print_json
from knobwise.config import load_config
from knobwise.population import train_population


def run_population(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    quiet = args.quiet or args.json
    result = train_population(cfg, args.population, args.out, quiet=quiet, vote=args.vote)
    if args.json:
        print_json({"run": str(result.run.root), "metrics": result.metrics, "batched": result.batched})
        return 0
    console = Console(highlight=False)
    section = result.metrics["ensemble"]
    table = Table(title=f"population {result.run.root} ({len(result.members)} members, {args.vote} vote)")
    for col in ("split", "examples", "plurality", "mean", "members (min-max)"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, row in section["splits"].items():
        accs = [a for a in row["members"] if a is not None]
        span = f"{100 * min(accs):.2f}-{100 * max(accs):.2f}%" if accs else "-"
        table.add_row(
            split,
            str(result.metrics[split]["n"]),
            f"{100 * row['plurality']:.2f}%",
            f"{100 * row['mean']:.2f}%",
            span,
        )
    console.print(table)
    console.print(
        f"wrote {result.run.root}/ (members/0..{len(result.members) - 1}/ and the ensemble's metrics.json)"
    )
    return 0
