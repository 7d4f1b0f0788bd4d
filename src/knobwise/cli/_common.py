"""Arguments several subcommands share.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_overrides(p)
    >>> p.parse_args(["--set", "train.epochs=2"]).overrides
    ['train.epochs=2']
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from knobwise.io import to_json

__all__ = ["add_overrides", "print_json"]


def add_overrides(p: argparse.ArgumentParser, what: str = "a config value") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``, typed later against the schema."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what}, e.g. --set train.optimizer.lr=0.01; repeatable",
    )


def print_json(obj: Any) -> None:
    """``--json`` output: indented, strict JSON (NaN and infinities as null; arrays as lists).

    >>> print_json({"accuracy": 0.5, "lr_plus": float("inf")})
    {
      "accuracy": 0.5,
      "lr_plus": null
    }
    """
    sys.stdout.write(to_json(obj) + "\n")
