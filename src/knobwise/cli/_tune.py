"""``knobwise tune CONFIG --space SPACE [--sampler ...] [--pruner ...] [--trials N] [--workers N] ...``.

Examples::

    knobwise tune examples/quickstart.yaml --space space.yaml --sampler tpe --pruner median --trials 30
    knobwise tune cfg.yaml --space space.yaml --objectives accuracy:max latency_ms:min --sampler nsga2
    knobwise tune cfg.yaml --space space.yaml --storage postgresql+psycopg2://u:p@db/kw --study s1 --workers 4
    knobwise tune --study s1 --resume
    knobwise tune --study s1 --top-k 5 --ensemble
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from typing import Any

from rich.console import Console
from rich.table import Table

import knobwise.tune  # noqa: F401 - registers study folders as `knobwise select` tables
from knobwise.api import write_trial_reports
from knobwise.cli._common import add_overrides, print_json
from knobwise.errors import ConfigError
from knobwise.tune._ensemble import ensemble_top_k
from knobwise.tune._options import StudyOptions, cli_options
from knobwise.tune._output import fmt_value
from knobwise.tune._paths import StudyPaths
from knobwise.tune._run import TuneRequest, run_study
from knobwise.tune._workers import worker_main


def add_arguments(p: argparse.ArgumentParser) -> None:
    # The study's settings: one option per TuneRequest field (names, defaults and help live there),
    # this invocation's (config, space, trials, where the study lives) before the study's own.
    options = cli_options(TuneRequest)
    kept = {o.name for o in cli_options(StudyOptions)}
    for option in [o for o in options if o.name not in kept] + [o for o in options if o.name in kept]:
        p.add_argument(*option.flags, **option.argparse_kwargs())
    add_overrides(p, "a base config value")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="best trials to show and to ensemble")
    p.add_argument(
        "--ensemble", action="store_true", help="evaluate the K best trials' models together on dev"
    )
    p.add_argument(
        "--trial-reports",
        action="store_true",
        help="also render each finished trial's HTML report (without it: metrics and predictions only; "
        "`knobwise report STUDY/trials/NNNN` renders one later)",
    )
    p.add_argument("--json", action="store_true", help="print study.json as JSON")
    p.add_argument(
        "--worker", type=int, help=argparse.SUPPRESS
    )  # internal: one worker process of --workers N


def _print_summary(result: dict[str, Any], top_k: int) -> None:
    console = Console(highlight=False, soft_wrap=True)
    best = result.get("best_trials", [])[:top_k]
    table = Table(title=f"study {result['name']}: best trials ({', '.join(result['objectives'])})")
    for col in ("#", "value", "params", "epochs", "run"):
        table.add_column(col)
    for b in best:
        params = ", ".join(f"{k}={fmt_value(v)}" for k, v in b["params"].items())
        table.add_row(
            str(b["number"]),
            fmt_value(b.get("values")),
            params,
            fmt_value(b.get("epochs")),
            str(b["run_dir"]),
        )
    console.print(table)
    imp = result.get("importances") or {}
    if imp:
        console.print("importance (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    states = result.get("states", {})
    console.print("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())))
    if result.get("workers_failed"):
        console.print(f"[yellow]{result['workers_failed']} worker(s) died; their trials were retried[/]")
    if best:
        console.print(f"best config: {result['settings']['study_dir']}/best_config.yaml")


def _run_worker(args: argparse.Namespace) -> int:
    if not args.out:
        raise ConfigError("--worker needs --out STUDY_DIR")
    deadline = time.time() + args.timeout if args.timeout else None
    return worker_main(StudyPaths.of(out=args.out).root, args.worker, deadline)


def run(args: argparse.Namespace) -> int:
    if args.worker is not None:
        return _run_worker(args)
    if args.ensemble:
        paths = StudyPaths.of(args.study, args.out)
        if not paths.exists():
            raise ConfigError(f"--ensemble: no study in {paths.root} (study.json is missing)")
        result = ensemble_top_k(paths.root, args.top_k, args.storage)
        if args.json:
            print_json(result)
        else:
            for m in result["members"]:
                print(f"trial {m['number']}: dev accuracy {m['dev']['accuracy']:.4f}")
            print(f"ensemble of {result['k']}: dev accuracy {result['dev']['accuracy']:.4f}")
        return 0
    req = TuneRequest(**{f.name: getattr(args, f.name) for f in fields(TuneRequest)})
    req.quiet = req.quiet or args.json  # the live table would mix with the JSON
    result = run_study(req)
    if args.trial_reports:
        write_trial_reports(result["settings"]["study_dir"])
    if args.json:
        print_json(result)
    else:
        _print_summary(result, args.top_k)
    return 0 if result.get("best_trials") else 1
