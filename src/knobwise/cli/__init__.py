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
import importlib
import sys
from collections.abc import Sequence

from knobwise import __version__
from knobwise.errors import KnobwiseError

__all__ = ["main", "COMMANDS"]

#: name -> (module, one-line help), in the order ``knobwise --help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "knobwise.cli._train",
        "train a model from a YAML config (no config: the built-in digits quickstart) into a run directory",
    ),
    "evaluate": (
        "knobwise.cli._evaluate",
        "recompute a trained run's metrics, confusion matrix and (with --latency) its classification time",
    ),
    "diagnose": (
        "knobwise.cli._diagnose",
        "bias/variance/mismatch analysis of a run (or of given errors) and the knobs to turn, in order",
    ),
    "errors": (
        "knobwise.cli._errors_command",
        "error analysis: per-class errors, top confusions, low-confidence and likely-mislabeled examples",
    ),
    "predict": (
        "knobwise.cli._predict",
        "classify image files, folders or .npz arrays with a trained run: class, probability, top-k",
    ),
    "export": (
        "knobwise.cli._export",
        "export a trained run to ONNX or TorchScript (normalization inside), verified by running the file",
    ),
    "explain": (
        "knobwise.cli._explain",
        "what the network looks at: attribution maps (Grad-CAM, saliency, integrated gradients, occlusion)",
    ),
    "lr-find": (
        "knobwise.cli._lr_find",
        "learning-rate range test: loss vs. an exponentially rising rate, a plot and a suggested rate",
    ),
    "select": (
        "knobwise.cli._select",
        "choose the best candidate (table rows, runs, a study) by one metric subject to constraints",
    ),
    "summary": ("knobwise.cli._summary", "show a model's layers: output shapes, parameters, size and depth"),
    "augment-preview": (
        "knobwise.cli._augment_preview",
        "save a grid of training images beside their augmented versions (data.augment)",
    ),
    "tune": (
        "knobwise.cli._tune",
        "hyperparameter search over a space of config values (Optuna): samplers, pruning, parallel workers",
    ),
    "report": (
        "knobwise.cli._report",
        "build the HTML report of a run or a study, or compare several runs side by side",
    ),
    "ensemble": (
        "knobwise.cli._ensemble",
        "combine trained runs into an ensemble run (plurality or mean vote) and evaluate it",
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for bad arguments (its default too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; the arguments of the commands in ``only`` (default:
    all) are added, which imports their modules."""
    parser = _Parser(prog="knobwise", description="Train, measure, diagnose and tune image classifiers.")
    parser.add_argument("--version", action="version", version=f"knobwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (modname, text) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        if only is None or name in only:
            mod = importlib.import_module(modname)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
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
