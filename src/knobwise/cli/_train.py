"""``knobwise train [CONFIG] [--set key=value ...] [--out DIR] [--resume DIR]``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from knobwise.api import Run, train
from knobwise.cli._common import add_overrides, print_json
from knobwise.cli._population import print_population
from knobwise.errors import ConfigError
from knobwise.objective import SPLITS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="experiment YAML (default: the quickstart, a small CNN on digits)",
    )
    add_overrides(p)
    p.add_argument("--out", metavar="DIR", help="run directory to create (default: runs/<time>-<name>)")
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue RUN from its last complete epoch; with --set, change settings (babysitting)",
    )
    p.add_argument(
        "--population",
        type=int,
        metavar="N",
        help="train N members (train.seed = seed + k) together into RUN/members/k and their vote",
    )
    p.add_argument(
        "--vote",
        choices=("plurality", "mean"),
        default="plurality",
        help="how --population members vote",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the run directory and metrics as JSON")


def _print_result(result: Run, as_json: bool) -> None:
    if as_json:
        print_json({"run": str(result.root), "metrics": result.metrics})
        return
    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"run {result.root}")
    for col in ("split", "examples", "loss", "accuracy", "error %"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in SPLITS:
        m = result.metrics.get(split)
        if m:
            table.add_row(
                split, str(m["n"]), f"{m['loss']:.4f}", f"{100 * m['accuracy']:.2f}%", f"{m['error']:.2f}"
            )
    console.print(table)
    if result.stop_reason:
        console.print(result.stop_reason)
    console.print(
        f"wrote {result.root}/ (config.yaml, history.csv, metrics.json, model.safetensors, report.html)"
    )


def run(args: argparse.Namespace) -> int:
    if args.resume and args.config:
        raise ConfigError(
            "--resume takes the run's own config.yaml: give no CONFIG (change knobs with --set)"
        )
    quiet = args.quiet or args.json
    if args.population is not None:
        if args.resume:
            raise ConfigError("--population cannot be resumed: resume a member (--resume RUN/members/K)")
        result = train(
            args.config, args.overrides, args.out, quiet=quiet, population=args.population, vote=args.vote
        )
        print_population(result, args.json)
        return 0
    if args.resume:
        result = train(overrides=args.overrides, resume=args.resume, quiet=quiet)
    else:
        result = train(args.config, args.overrides, args.out, quiet=quiet)
    _print_result(result, args.json)
    return 0
