"""``knobwise report RUN | STUDY | RUN1 RUN2 ... [--out FILE]``: (re)build the HTML report."""

from __future__ import annotations

import argparse

from knobwise.api import write_report
from knobwise.cli._common import print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="a run directory, a study directory, or two or more runs"
    )
    p.add_argument(
        "--out",
        metavar="FILE.html",
        help="HTML file to write (default: PATH/report.html; comparison.html for several runs)",
    )
    p.add_argument("--json", action="store_true", help="print the written path as JSON")


def run(args: argparse.Namespace) -> int:
    path = write_report(args.paths, args.out)
    if args.json:
        print_json({"report": str(path)})
    else:
        print(f"wrote {path}")
    return 0
