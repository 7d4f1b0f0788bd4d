"""Running a study end to end: validate the request, create / join / resume the study, run its
rounds with one or more workers while a live table shows progress, then write the results.

Example:
    >>> req = TuneRequest(config=None, space="space.yaml", trials=4)
    >>> req.sampler, req.workers
    ('tpe', 1)
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import optuna
import yaml
from rich.console import Console
from rich.live import Live

from knobwise.config import load_config, read_yaml
from knobwise.errors import ConfigError
from knobwise.io import atomic_write_text, read_json
from knobwise.objective import (
    check_metric_path,
    expression_direction,
    metric_direction,
    parse_expression,
    validate_objective,
)
from knobwise.track import StudyTracking, check_tracking, study_tracking
from knobwise.tune._cores import cap_workers
from knobwise.tune._fork import ForkedCall
from knobwise.tune._join import settings_changes
from knobwise.tune._options import MISSING, StudyOptions, option
from knobwise.tune._output import live_table, start_importances, write_results
from knobwise.tune._paths import StudyPaths, is_masked, mask_url, resolve_storage
from knobwise.tune._pruners import PRUNERS
from knobwise.tune._refine import best_params_of_round, narrow
from knobwise.tune._samplers import create_sampler
from knobwise.tune._space import SearchSpace, check_against_config, load_space, parse_space
from knobwise.tune._study import (
    StudySettings,
    budget_left,
    counted_trials,
    create_optuna_study,
    load_optuna_study,
    open_storage,
    read_settings,
    write_settings,
)
from knobwise.tune._workers import (
    open_study,
    recover_interrupted,
    run_worker,
    start_workers,
    supervise_workers,
)

__all__ = ["TuneRequest", "run_study", "prepare_study", "parse_objectives"]


@dataclass
class TuneRequest(StudyOptions):
    """One ``knobwise tune`` (or ``kw.tune``): the study's settings (:class:`StudyOptions`) and
    this invocation's. Each field is also the CLI option of the same name (``--pruner-startup``)."""

    config: str | None = option(
        MISSING, "experiment YAML (default: the quickstart)", flags=("config",), nargs="?", metavar="CONFIG"
    )
    space: str | None = option(
        MISSING,
        "search space: {config.path: {type, low, high, log, step, choices, when}}",
        metavar="FILE.yaml",
    )
    trials: int | None = option(
        None, "trials per round (default: 20; grid: the grid size)", type=int, metavar="N"
    )
    workers: int = option(1, "worker processes on this machine", type=int, metavar="N")
    storage: str | None = option(
        None,
        "SQLAlchemy URL (postgresql+psycopg2://...) or journal:PATH (default: SQLite, in the study)",
        metavar="URL",
    )
    study: str | None = option(
        None, "study name, its folder is studies/NAME (default: <config>-<space>)", metavar="NAME"
    )
    out: str | None = option(None, "study folder (default: studies/NAME)", metavar="DIR")
    resume: bool = option(False, "continue the study after an interruption")
    objectives: list[str] = option(
        help="several objectives (Pareto front), e.g. accuracy:max latency_ms:min",
        factory=list,
        nargs="+",
        metavar="METRIC:max|min",
    )
    seed: int | None = option(None, "sampler seed (default: the config's seed)", type=int, metavar="N")
    overrides: list[str] = option(
        help="base config values as KEY=VALUE (the CLI's --set)", factory=list, cli=False
    )
    quiet: bool = option(False, "no live table", flags=("--quiet", "-q"))


def parse_objectives(
    items: list[str], metric: str, direction: str | None = None
) -> tuple[list[str], list[str]]:
    """``["accuracy:max", "latency_ms:min"]`` → (metric paths, Optuna directions); none given: the
    config's ``evaluate.metric`` (any expression) with its direction."""
    if not items:
        d = direction or expression_direction(parse_expression(metric, "evaluate.metric"))
        return [metric], ["maximize" if d.startswith("max") else "minimize"]
    names, dirs = [], []
    for item in items:
        name, _, d = item.partition(":")
        d = d or metric_direction(name)
        if d not in ("max", "min", "maximize", "minimize"):
            raise ConfigError(f"--objectives {item!r}: the direction must be max or min")
        check_metric_path(name)
        names.append(name)
        dirs.append("maximize" if d.startswith("max") else "minimize")
    return names, dirs


def _check_request(req: TuneRequest) -> None:
    checks = [("--trials", req.trials), ("--workers", req.workers), ("--refine", req.refine)]
    checks += [("--heartbeat", req.heartbeat), ("--grace", req.grace), ("--population", req.population)]
    for key, value in checks:
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if req.timeout is not None and req.timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds, got {req.timeout:g}")
    if req.grace <= req.heartbeat:
        raise ConfigError(f"--grace ({req.grace} s) must be longer than --heartbeat ({req.heartbeat} s)")


def _resume(req: TuneRequest) -> tuple[StudySettings, str]:
    paths = StudyPaths.of(req.study, req.out)
    if not paths.exists():
        raise ConfigError(
            f"--resume: no study in {paths.root} (study.json is missing); start it without --resume"
        )
    settings = read_settings(paths.root)
    url = resolve_storage(req.storage, paths.root, settings.storage)
    if is_masked(url):
        raise ConfigError(f"--resume: the storage {url} needs its password: pass --storage URL")
    study = load_optuna_study(open_storage(url, settings.heartbeat, settings.grace), settings.name)
    recover_interrupted(study)
    if req.trials is not None:
        settings.n_trials = req.trials
    if req.population != 1:
        settings.population = req.population
    return settings, url


def prepare_study(req: TuneRequest) -> tuple[StudySettings, str]:
    """Validate everything, then create (or join) the study and its directory; returns the settings
    and the real storage URL. Bad input raises :class:`ConfigError` before anything is written."""
    _check_request(req)
    if req.resume:
        return _resume(req)
    if not req.space:
        raise ConfigError("--space SPACE is required (a YAML search space), or --resume a study")
    cfg = load_config(req.config, req.overrides)
    check_tracking(cfg.track)
    base = cfg.model_dump(mode="json")
    space = load_space(req.space)
    check_against_config(space, base)
    objectives, directions = parse_objectives(req.objectives, cfg.evaluate.metric, cfg.evaluate.direction)
    validate_objective(cfg.evaluate.metric, cfg.evaluate.constraints, cfg.evaluate.direction)
    PRUNERS.get(req.pruner)
    if req.pruner != "none" and len(objectives) > 1:
        raise ConfigError(f"--pruner {req.pruner}: pruning needs a single objective (use --pruner none)")
    n_trials = req.trials or (space.grid_size() if req.sampler == "grid" else 20)
    create_sampler(req.sampler, space=space, n_objectives=len(objectives), n_trials=n_trials)  # checks early
    if req.refine > 1 and req.sampler == "grid":
        raise ConfigError(
            "--refine narrows numeric ranges; the grid sampler has none (use random, tpe, qmc, ...)"
        )
    name = req.study or f"{Path(req.config).stem if req.config else 'quickstart'}-{Path(req.space).stem}"
    paths = StudyPaths.of(name, req.out)
    study_dir = paths.root
    url = resolve_storage(req.storage, study_dir)
    settings = StudySettings(
        **{f.name: getattr(req, f.name) for f in fields(StudyOptions)},
        name=name,
        study_dir=str(study_dir),
        storage=mask_url(url),
        objectives=objectives,
        directions=directions,
        constraints=list(cfg.evaluate.constraints),
        metric=cfg.evaluate.metric,
        n_trials=n_trials,
        seed=cfg.seed if req.seed is None else req.seed,
        epochs=cfg.train.epochs,
        rounds=[{"index": 0, "space": space.to_dict(), "n_trials": n_trials}],
    )
    if paths.exists():
        return _join(settings, url, base, space)
    created = not study_dir.exists()
    study_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(url, settings.heartbeat, settings.grace)
        create_optuna_study(storage, settings, None, None)
    except BaseException:
        if created:
            shutil.rmtree(study_dir, ignore_errors=True)  # nothing half-written
        raise
    atomic_write_text(paths.config, _yaml(base))
    atomic_write_text(paths.space, space.to_yaml())
    write_settings(settings)
    return settings, url


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def _join(
    settings: StudySettings, url: str, base: dict[str, Any], space: SearchSpace
) -> tuple[StudySettings, str]:
    """The study directory exists: the same config and space join it (another worker or machine)."""
    old = read_settings(settings.dir)
    same = read_yaml(settings.paths.config) == base and old.rounds[0]["space"] == space.to_dict()
    if not same or old.name != settings.name:
        raise ConfigError(
            f"{settings.dir}: holds study {old.name!r} with a different config or space; "
            "continue it with --resume, or pick a new --study / --out"
        )
    changed = settings_changes(old, settings)
    if changed:
        # Joining would silently run the old study's settings (or nothing, when it is finished).
        raise ConfigError(
            f"{settings.dir}: holds study {old.name!r} with other settings ({'; '.join(changed)}); "
            "continue it as it is with --resume, or give this search its own --study NAME"
        )
    load_optuna_study(open_storage(url, old.heartbeat, old.grace), old.name)
    return old, url


def _run_round(
    settings: StudySettings, url: str, workers: int, deadline: float | None, quiet: bool
) -> list[int]:
    """Run the current round to its budget; returns the exit codes of spawned workers."""
    study = open_study(settings, url)
    stop = threading.Event()
    console = Console(stderr=True)
    live = (
        None
        if quiet
        else Live(live_table(study, settings, width=console.width), console=console, auto_refresh=False)
    )

    def refresh() -> None:
        while not stop.wait(1.0):
            if live is not None:
                live.update(live_table(study, settings, width=console.width), refresh=True)

    def after_trial(s: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        write_results(s, settings)

    codes: list[int] = []
    # Workers first: forked before this process has a thread of its own (the display's).
    started = start_workers(settings, url, workers, deadline) if workers > 1 else None
    thread = threading.Thread(target=refresh, daemon=True)
    if live is not None:
        live.start()
    thread.start()
    try:
        if workers == 1:
            run_worker(settings, url, deadline=deadline, after_trial=after_trial)
        else:
            codes = supervise_workers(settings, url, workers, deadline, started=started)
    finally:
        stop.set()
        thread.join()
        if live is not None:
            live.update(live_table(study, settings, width=console.width), refresh=True)
            live.stop()
    return codes


def run_study(req: TuneRequest) -> dict[str, Any]:
    """Run (or resume) a study; returns the final ``study.json`` content."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings, url = prepare_study(req)
    importances = start_importances(settings, url)  # forked before any thread of this process
    tracking = _start_tracking(settings)
    try:
        result = _run_rounds(req, settings, url, importances)
    except BaseException:
        if importances is not None:
            importances.close()
        if tracking is not None:
            tracking.finish(None, status="KILLED")  # --resume reopens the same parent run
        raise
    if tracking is not None:
        best = result["best_trials"][0] if result["best_trials"] else {}
        files = [settings.paths.study_json, settings.paths.best_config]
        tracking.finish(best.get("value"), files)
    return result


def _start_tracking(settings: StudySettings) -> StudyTracking | None:
    """Open the study's MLflow parent run when the base config has a ``track:`` section."""
    base = read_yaml(settings.paths.config)
    tracking = study_tracking(base, settings.dir, settings.name, settings.tracking, echo=True)
    if tracking is None:
        return None
    params: dict[str, Any] = {
        key: getattr(settings, key)
        for key in (
            "sampler",
            "pruner",
            "n_trials",
            "objectives",
            "directions",
            "constraints",
            "seed",
            "refine",
        )
    }
    params.update({f"space.{k}": v for k, v in settings.rounds[0]["space"].items()})
    files = [settings.paths.config, settings.paths.space]
    settings.tracking = tracking.start(params, files)
    write_settings(settings)
    return tracking


def _run_rounds(
    req: TuneRequest, settings: StudySettings, url: str, importances: ForkedCall | None = None
) -> dict[str, Any]:
    timeout = req.timeout if req.timeout is not None else settings.timeout
    deadline = time.time() + timeout if timeout else None
    worker_codes: list[int] = []
    workers, note = cap_workers(req.workers)
    if note:
        print(note, file=sys.stderr)
    n_before = len(open_study(settings, url).get_trials(deepcopy=False))
    while True:
        r = len(settings.rounds) - 1
        worker_codes += _run_round(settings, url, workers, deadline, req.quiet)
        study = open_study(settings, url)
        best = best_params_of_round(study, r)
        settings.rounds[r]["best"] = best[:3]
        if r + 1 >= settings.refine or not best or (deadline is not None and time.time() >= deadline):
            break
        space = parse_space(settings.rounds[r]["space"], f"round {r} space")
        nxt = narrow(space, best)
        settings.rounds.append({"index": r + 1, "space": nxt.to_dict(), "n_trials": settings.n_trials})
        write_settings(settings)
    trials_run = len(study.get_trials(deepcopy=False)) - n_before
    if trials_run == 0 and budget_left(study, settings.n_trials, len(settings.rounds) - 1) == 0:
        print(nothing_left_note(settings, len(counted_trials(study))), file=sys.stderr)
    result = write_results(study, settings, with_importances=True, importances_from=importances)
    dead = [c for c in worker_codes if c != 0]
    return {
        **read_settings_json(settings),
        "worker_exit_codes": worker_codes,
        "workers_failed": len(dead),
        "trials_run": trials_run,
        **result,
    }


def nothing_left_note(settings: StudySettings, n_trials: int) -> str:
    """The line ``tune`` prints when it joined a study whose budget was already spent.

    >>> from knobwise.tune._study import StudySettings
    >>> base = ("s1", "studies/s1", "sqlite://", ["accuracy"], ["maximize"], [], "accuracy")
    >>> s = StudySettings(*base, n_trials=30)
    >>> print(nothing_left_note(s, 30))
    study 's1' already has its 30 trials: nothing was left to run (to add trials: --resume --trials N, N > 30)
    """
    per_round = " per round" if settings.refine > 1 else ""
    return (
        f"study {settings.name!r} already has its {n_trials} trial{'' if n_trials == 1 else 's'}: "
        "nothing was left to run "
        f"(to add trials: --resume --trials N, N > {settings.n_trials}{per_round})"
    )


def read_settings_json(settings: StudySettings) -> dict[str, Any]:
    return read_json(settings.paths.study_json)
