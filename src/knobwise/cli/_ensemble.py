"""``knobwise ensemble RUN RUN ... [--vote plurality|mean] [--out DIR]``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from knobwise.api import ensemble
from knobwise.cli._common import print_json
from knobwise.run import VOTES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="finished run directories (at least 2)")
    p.add_argument(
        "--vote",
        choices=VOTES,
        default="plurality",
        help="plurality: most votes, ties by mean probability; mean: highest mean probability",
    )
    p.add_argument(
        "--out", metavar="DIR", help="ensemble run directory to create (default: runs/<time>-ensemble-N)"
    )
    p.add_argument("--json", action="store_true", help="print the run directory and metrics as JSON")


def run(args: argparse.Namespace) -> int:
    target = ensemble(args.runs, args.vote, args.out)
    metrics = target.metrics
    if args.json:
        print_json({"run": str(target.root), "metrics": metrics})
        return 0
    console = Console(highlight=False)
    section = metrics["ensemble"]
    table = Table(title=f"ensemble {target.root} ({args.vote} vote of {len(section['members'])} runs)")
    for col in ("split", "examples", "plurality", "mean", "best member", "worst member"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, row in section["splits"].items():
        accs = [a for a in row["members"] if a is not None]
        cells = [row["plurality"], row["mean"], max(accs, default=None), min(accs, default=None)]
        table.add_row(split, str(metrics[split]["n"]), *(_pct(c) for c in cells))
    console.print(table)
    console.print(f"wrote {target.root}/ (metrics.json, predictions.npz, model.json, report.html)")
    return 0


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"
