"""``knobwise diagnose [RUN] [--human-error E] [--bayes-error E] [--train-error E --dev-error E ...]``."""

from __future__ import annotations

import argparse
from typing import Any

from knobwise.cli._common import print_json
from knobwise.diagnose import GAP_KEYS, decompose, diagnose_run, error_words, problem_words
from knobwise.errors import ConfigError

_SPLIT_FLAGS = ("train_error", "train_dev_error", "dev_error", "test_error")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a run directory (its metrics.json, history.csv and config.yaml)",
    )
    for flag, what in (
        ("--human-error", "human-level error (a proxy for the Bayes error)"),
        ("--bayes-error", "the Bayes (optimal) error"),
        ("--train-error", "training error"),
        ("--train-dev-error", "train-dev error (same distribution as train, not trained on)"),
        ("--dev-error", "dev error"),
        ("--test-error", "test error"),
    ):
        p.add_argument(flag, type=float, metavar="PERCENT", help=f"{what} in percent")
    p.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        metavar="PP",
        help="a gap above this many percentage points is high",
    )
    p.add_argument(
        "--boxes",
        metavar="FILE.csv",
        help="object boxes id,x0,y0,x1,y1 (with RUN): warn when the model looks outside them",
    )
    p.add_argument(
        "--masks", metavar="DIR", help="object masks, one image per example id (with RUN), as --boxes"
    )
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def _pp(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f} pp"


def _print(d: dict[str, Any]) -> None:
    errs = {k: v for k, v in d["errors"].items() if v is not None}
    print("errors (%): " + ", ".join(f"{error_words(k)} {v:.2f}" for k, v in errs.items()))
    for key in GAP_KEYS:
        if d[key] is not None:
            mark = "  HIGH" if key in d["high"] else ""
            print(f"  {problem_words(key):<27} {_pp(d[key])}{mark}")
    print(f"verdict: {d['verdict']} (tolerance {d['tolerance']:g} pp)")
    for note in d["notes"]:
        print(f"note: {note}")
    if d["focus"]:
        print(f"focus: {problem_words(d['focus'])}; knobs, in order:")
        for i, k in enumerate(d["knobs"], start=1):
            print(f"  {i}. {k['knob']}: {k['setting']}")
    for section in ("curves", "gradients"):
        for f in d.get(section, []):
            epoch = f" (epoch {f['epoch']})" if f["epoch"] else ""
            first = f["knobs"][0] if f["knobs"] else None
            hint = f"; try {first['knob']}: {first['setting']}" if first else ""
            label = "learning curve" if section == "curves" else "gradients"
            print(f"{label}: {problem_words(f['problem'])}{epoch}: {f['detail']}{hint}")
    sur = d.get("surroundings")
    if sur and sur.get("mean_inside") is not None:
        share = f"{100 * sur['mean_inside']:.0f}%"
        print(f"surroundings: {share} of the attribution mass inside the objects ({sur.get('source')})")
        if sur.get("warning"):
            print(f"warning: {sur['warning']}")


def run(args: argparse.Namespace) -> int:
    given = {k: getattr(args, k) for k in _SPLIT_FLAGS if getattr(args, k) is not None}
    if args.run is not None:
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ConfigError(
                f"{flags}: give a RUN or the errors, not both (a run's errors come from metrics.json)"
            )
        d = diagnose_run(
            args.run,
            human=args.human_error,
            bayes=args.bayes_error,
            tolerance=args.tolerance,
            boxes=args.boxes,
            masks=args.masks,
        )
    else:
        if not given:
            raise ConfigError("diagnose needs a RUN directory or errors (at least --train-error)")
        if args.boxes or args.masks:
            raise ConfigError("--boxes/--masks need a RUN directory (its model looks at the images)")
        d = decompose(
            train=args.train_error,
            train_dev=args.train_dev_error,
            dev=args.dev_error,
            test=args.test_error,
            human=args.human_error,
            bayes=args.bayes_error,
            tolerance=args.tolerance,
        ).to_dict()
    if args.json:
        print_json(d)
    else:
        _print(d)
    return 0
