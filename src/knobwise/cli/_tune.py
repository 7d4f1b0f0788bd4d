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
import os
import time
from typing import Any

from rich.console import Console
from rich.table import Table

import knobwise.tune  # noqa: F401 - registers study folders as `knobwise select` tables
from knobwise.api import write_trial_reports
from knobwise.cli._common import add_overrides, print_json
from knobwise.errors import ConfigError
from knobwise.tune._ensemble import ensemble_top_k
from knobwise.tune._output import fmt_value, write_results
from knobwise.tune._pruners import PRUNERS
from knobwise.tune._run import TuneRequest, run_study, study_dir_of
from knobwise.tune._samplers import SAMPLERS
from knobwise.tune._study import read_settings
from knobwise.tune._workers import STORAGE_ENV, run_worker


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", metavar="CONFIG", help="experiment YAML (default: the quickstart)")
    p.add_argument(
        "--space",
        metavar="FILE.yaml",
        help="search space: {config.path: {type, low, high, log, step, choices, when}}",
    )
    p.add_argument("--sampler", default="tpe", metavar="NAME", help=" | ".join(SAMPLERS.names()))
    p.add_argument("--pruner", default="none", metavar="NAME", help=" | ".join(PRUNERS.names()))
    p.add_argument(
        "--trials", type=int, metavar="N", help="trials per round (default: 20; grid: the grid size)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop starting trials after this long (default: no limit)",
    )
    p.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes on this machine")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="SQLAlchemy URL (postgresql+psycopg2://...) or journal:PATH (default: SQLite, in the study)",
    )
    p.add_argument(
        "--study", metavar="NAME", help="study name, its folder is studies/NAME (default: <config>-<space>)"
    )
    p.add_argument("--out", metavar="DIR", help="study folder (default: studies/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the study after an interruption")
    p.add_argument(
        "--objectives",
        nargs="+",
        default=[],
        metavar="METRIC:max|min",
        help="several objectives (Pareto front), e.g. accuracy:max latency_ms:min",
    )
    p.add_argument(
        "--refine", type=int, default=1, metavar="R", help="coarse-to-fine: R rounds, each narrowing ranges"
    )
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="best trials to show and to ensemble")
    p.add_argument(
        "--ensemble", action="store_true", help="evaluate the K best trials' models together on dev"
    )
    p.add_argument("--seed", type=int, metavar="N", help="sampler seed (default: the config's seed)")
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        metavar="SECONDS",
        help="worker heartbeat interval for RDB storages",
    )
    p.add_argument(
        "--grace",
        type=int,
        default=30,
        metavar="SECONDS",
        help="time without a heartbeat before a trial is failed and retried",
    )
    p.add_argument(
        "--pruner-startup",
        type=int,
        default=3,
        metavar="N",
        help="median pruner: complete trials before pruning",
    )
    p.add_argument(
        "--pruner-warmup",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="median pruner: epochs before a trial can be pruned",
    )
    p.add_argument(
        "--population",
        type=int,
        default=1,
        metavar="N",
        help="ask N trials at a time and train those with the same architecture together in one process",
    )
    add_overrides(p, "a base config value")
    p.add_argument("--quiet", "-q", action="store_true", help="no live table")
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
    settings = read_settings(study_dir_of(TuneRequest(None, None, out=args.out)))
    url = os.environ.get(STORAGE_ENV) or settings.storage
    deadline = time.time() + args.timeout if args.timeout else None
    run_worker(
        settings,
        url,
        worker=args.worker,
        deadline=deadline,
        after_trial=lambda s, t: write_results(s, settings),
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.worker is not None:
        return _run_worker(args)
    if args.ensemble:
        study_dir = study_dir_of(TuneRequest(None, None, study=args.study, out=args.out))
        if not (study_dir / "study.json").is_file():
            raise ConfigError(f"--ensemble: no study in {study_dir} (study.json is missing)")
        result = ensemble_top_k(study_dir, args.top_k, args.storage)
        if args.json:
            print_json(result)
        else:
            for m in result["members"]:
                print(f"trial {m['number']}: dev accuracy {m['dev']['accuracy']:.4f}")
            print(f"ensemble of {result['k']}: dev accuracy {result['dev']['accuracy']:.4f}")
        return 0
    req = TuneRequest(
        config=args.config, space=args.space, sampler=args.sampler, pruner=args.pruner, trials=args.trials,
        timeout=args.timeout, workers=args.workers, storage=args.storage, study=args.study, out=args.out,
        resume=args.resume, objectives=args.objectives, refine=args.refine, seed=args.seed,
        heartbeat=args.heartbeat, grace=args.grace, pruner_startup=args.pruner_startup,
        pruner_warmup=args.pruner_warmup, overrides=args.overrides, quiet=args.quiet or args.json,
        population=args.population,
    )  # fmt: skip
    result = run_study(req)
    if args.trial_reports:
        write_trial_reports(result["settings"]["study_dir"])
    if args.json:
        print_json(result)
    else:
        _print_summary(result, args.top_k)
    return 0 if result.get("best_trials") else 1
