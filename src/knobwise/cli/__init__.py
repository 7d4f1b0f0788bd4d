"""The ``knobwise`` command: one subcommand per module, each with ``add_parser`` and ``run``.

A subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
and is listed in :data:`COMMANDS`. Errors derived from :class:`~knobwise.errors.KnobwiseError` are
printed as one line on stderr and turned into their exit code (2 bad input, 1 failed work).

Example:
    >>> from knobwise.cli import build_parser
    >>> build_parser().parse_args(["train", "--set", "train.epochs=2"]).overrides
    ['train.epochs=2']
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from knobwise import __version__
from knobwise.errors import KnobwiseError

__all__ = ["main", "COMMANDS"]

#: Subcommand modules, in the order ``knobwise --help`` lists them.
COMMANDS: list[str] = [
    "knobwise.cli._train",
    "knobwise.cli._evaluate",
    "knobwise.cli._diagnose",
    "knobwise.cli._errors",
    "knobwise.cli._lr_find",
    "knobwise.cli._select",
    "knobwise.cli._summary",
    "knobwise.cli._augment_preview",
    "knobwise.cli._tune",
    "knobwise.cli._report",
    "knobwise.cli._ensemble",
]


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for bad arguments (its default too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="knobwise", description="Train, measure, diagnose and tune image classifiers.")
    parser.add_argument("--version", action="version", version=f"knobwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for modname in COMMANDS:
        mod = importlib.import_module(modname)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KnobwiseError as exc:
        print(f"knobwise {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"knobwise {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
