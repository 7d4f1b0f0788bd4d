"""The ``knobwise`` command: one subcommand per module, registered in :data:`COMMANDS`.

A subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``; its name and
one-line help live in :data:`COMMANDS`, so ``knobwise --help`` lists every command without
importing any of them (no torch), and ``knobwise CMD ...`` imports only CMD's module. Errors
derived from :class:`~knobwise.errors.KnobwiseError` are printed as one line on stderr and turned
into their exit code (2 bad input, 1 failed work).

Example:
    >>> from knobwise.cli import build_parser
    >>> build_parser(["train"]).parse_args(["train", "--set", "train.epochs=2"]).overrides
    ['train.epochs=2']
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

from knobwise import __version__
from knobwise.errors import KnobwiseError

__all__ = ["main", "COMMANDS", "build_parser", "HelpFormatter", "shows_default"]

#: name -> (module, one-line help), in the order ``knobwise --help`` lists them. The help is an
#: imperative phrase (lower-case, no full stop) short enough for one line at 80 columns.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("knobwise.cli._train", "train a model from a YAML config into a run directory"),
    "evaluate": ("knobwise.cli._evaluate", "recompute a run's metrics, confusion matrix and latency"),
    "diagnose": ("knobwise.cli._diagnose", "diagnose a run's bias and variance and list knobs to turn"),
    "errors": ("knobwise.cli._errors_command", "analyze a run's errors and find suspected label issues"),
    "predict": ("knobwise.cli._predict", "classify image files, folders or .npz arrays with a run"),
    "export": ("knobwise.cli._export", "export a run to ONNX or TorchScript and verify the file"),
    "explain": ("knobwise.cli._explain", "show what the network looks at (attribution maps)"),
    "lr-find": ("knobwise.cli._lr_find", "run a learning-rate range test and suggest a rate"),
    "select": ("knobwise.cli._select", "choose the best candidate by one metric under constraints"),
    "summary": ("knobwise.cli._summary", "show a model's layers, output shapes and parameters"),
    "augment-preview": (
        "knobwise.cli._augment_preview",
        "draw training images beside their augmented versions",
    ),
    "tune": ("knobwise.cli._tune", "search hyperparameters over a space of config values"),
    "report": ("knobwise.cli._report", "build the HTML report of a run or a study, or compare runs"),
    "ensemble": ("knobwise.cli._ensemble", "combine trained runs into an ensemble run and evaluate it"),
}


class HelpFormatter(argparse.HelpFormatter):
    """One style for every ``--help``: an option that takes a value and has a default ends its help
    with ``(default: VALUE)``; flags, repeatable options (default ``[]``) and options whose default
    is ``None`` (their help says in words what happens without them) are left as written.

    >>> p = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    >>> _ = p.add_argument("--n", type=int, default=16, metavar="N", help="how many examples")
    >>> "how many examples (default: 16)" in p.format_help()
    True
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text and shows_default(action) and "(default" not in text:
            text += " (default: %(default)s)"
        return text


def shows_default(action: argparse.Action) -> bool:
    """Whether ``--help`` states ``action``'s default as ``(default: VALUE)``: an option that
    takes a value and has a default other than ``None`` or ``[]``."""
    return (
        bool(action.option_strings)
        and action.nargs != 0
        and action.default not in (None, argparse.SUPPRESS)
        and action.default != []
    )


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for bad arguments (its default too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; the arguments of the commands in ``only`` (default:
    all) are added, which imports their modules."""
    parser = _Parser(
        prog="knobwise",
        description="Train, measure, diagnose and tune image classifiers.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"knobwise {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=_Parser,
        title="commands",
        help="`knobwise COMMAND --help` lists a command's options",
    )
    for name, (modname, text) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        if only is None or name in only:
            mod = importlib.import_module(modname)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Called without ``argv`` (the ``knobwise`` command, ``python -m knobwise``) the process ends
    with the command: its objects are frozen out of the garbage collector first, so the
    interpreter's final collections do not walk the whole torch module graph once more (0.7-1.2 s
    of a short run's exit, after every file is written and closed; atexit handlers still run).
    """
    code = _main(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        gc.freeze()
    return code


def _main(args_list: list[str]) -> int:
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser([command] if command in COMMANDS else [])
    args = parser.parse_args(args_list)
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
