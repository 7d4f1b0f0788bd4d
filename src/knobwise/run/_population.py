"""Many models at once: ``knobwise train CONFIG --population N``.

N members share the config and the data split (the top-level ``seed``) and differ in
``train.seed`` (``seed + k``: initial weights, data order, augmentation, dropout). They are trained
together by :class:`~knobwise.train.PopulationTrainer` in this process; each member is written as a
full run directory ``RUN/members/k`` (exactly what ``knobwise train`` with that member's
``config.yaml`` writes), and ``RUN`` itself becomes the ensemble of the members
(:mod:`knobwise.run._ensemble`): plurality vote, ties broken by the mean probability. The report
is written above this layer (:func:`knobwise.api.train` with ``population``).

Tuning trains sampled configs the same way (:func:`train_members`): configs whose data, model
and batch size match are trained as one population.

Example:
    >>> from knobwise.config import load_config
    >>> cfgs = member_configs(load_config(None), 3)
    >>> [c.train.seed for c in cfgs], {c.seed for c in cfgs}
    ([0, 1, 2], {0})
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from knobwise.config import ExperimentConfig, config_to_yaml
from knobwise.data import find_leakage, prepare_data, training_knobs
from knobwise.device import resolve_device
from knobwise.errors import ConfigError, KnobwiseError, TrainingError
from knobwise.io import atomic_write_text
from knobwise.metrics import check_objective_classes
from knobwise.models import Transfer, apply_transfer, build_model, summarize
from knobwise.run._ensemble import write_ensemble
from knobwise.run._layout import RunPaths, new_run_dir
from knobwise.run._run import BaseRun
from knobwise.run._train import finish_run, run_trainer, training_seed
from knobwise.track import Tracking, check_tracking, open_tracking
from knobwise.train import Callback, PopulationTrainer, Trainer

__all__ = ["PopulationResult", "member_configs", "population_key", "train_members", "train_population"]


@dataclass
class PopulationResult:
    """A finished population: the ensemble run, its metrics, and every member's result."""

    run: RunPaths
    metrics: dict[str, Any]
    members: list[BaseRun]
    batched: bool


def member_configs(cfg: ExperimentConfig, n: int) -> list[ExperimentConfig]:
    """``n`` copies of ``cfg`` with ``train.seed`` = base + k (base: ``train.seed`` or ``seed``)."""
    if n < 1:
        raise ConfigError(f"--population must be >= 1, got {n}")
    base = training_seed(cfg)
    return [
        cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": base + k})}, deep=True)
        for k in range(n)
    ]


def population_key(cfg: ExperimentConfig) -> str:
    """What configs must share to be trained as one population: the data (and its split seed),
    the model, the batch size, the epochs' device and precision."""
    t = cfg.train
    return json.dumps(
        {
            "seed": cfg.seed,
            "data": cfg.data.model_dump(mode="json"),
            "model": cfg.model.model_dump(mode="json"),
            "train": [t.batch_size, t.device, t.precision, t.channels_last, t.threads],
        },
        sort_keys=True,
    )


def train_members(
    cfgs: Sequence[ExperimentConfig],
    runs: Sequence[RunPaths],
    *,
    callbacks: Sequence[Sequence[Callback]] | None = None,
    withhold_splits: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
    batched: bool = True,
    tracking: bool = False,
    on_saved: Callable[[BaseRun], None] | None = None,
) -> tuple[list[BaseRun | TrainingError], bool]:
    """Train ``cfgs`` (one population key) into the run folders ``runs`` together; returns each
    member's :class:`BaseRun` (or the error that stopped it) and whether they were batched.

    ``tracking``: each member is tracked as its own run (``cfg.track``); ``on_saved`` is called
    with each saved member before its trackers finish (as :func:`train_experiment` does)."""
    with contextlib.ExitStack() as stack:
        return _train_members(cfgs, runs, callbacks, withhold_splits, log, batched, tracking, on_saved, stack)


def _train_members(
    cfgs: Sequence[ExperimentConfig],
    runs: Sequence[RunPaths],
    callbacks: Sequence[Sequence[Callback]] | None,
    withhold_splits: Sequence[str],
    log: Callable[[str], None] | None,
    batched: bool,
    tracking: bool,
    on_saved: Callable[[BaseRun], None] | None,
    stack: contextlib.ExitStack,
) -> tuple[list[BaseRun | TrainingError], bool]:
    if len({population_key(c) for c in cfgs}) != 1:
        raise ConfigError("population members must share data, model and batch size (see population_key)")
    cfg0 = cfgs[0]
    device = resolve_device(cfg0.train.device)
    torch.manual_seed(cfg0.seed)
    data = prepare_data(cfg0.data, seed=cfg0.seed, device=device, withhold=tuple(withhold_splits))
    knobs = training_knobs(cfg0.data, cfg0.train.loss, data)
    leakage = find_leakage(data, max_pairs=3e7).summary()
    started = time.time()
    trainers: list[Trainer] = []
    layers: list[dict[str, Any]] = []
    transfers: list[Transfer] = []
    for k, (cfg, run) in enumerate(zip(cfgs, runs, strict=True)):
        check_objective_classes(cfg.evaluate.metric, cfg.evaluate.constraints, data.classes)
        torch.manual_seed(training_seed(cfg))  # the initial weights depend on the member's seed alone
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        # model.pretrained, model.freeze: as for a standalone run
        transfers.append(apply_transfer(model, cfg.model, classes=list(data.classes)))
        layers = model.layers_spec
        member_knobs = training_knobs(cfg.data, cfg.train.loss, data) if k else knobs
        trainer = run_trainer(
            model, data, cfg, run, member_knobs, callbacks[k] if callbacks else (), quiet=True
        )
        for line in [*data.describe(), *member_knobs.lines, *transfers[-1].lines, leakage]:
            trainer.log(line)
        params = summarize(model, data.input_shape).total_params
        trainer.log(
            f"model: {cfg.model.name or 'layer list'}, {params:,} parameters, device {trainer.device.type}; "
            f"population member {k} of {len(cfgs)} (train.seed {training_seed(cfg)})"
        )
        atomic_write_text(run.config, config_to_yaml(cfg))
        if tracking:
            tracker = stack.enter_context(open_tracking(cfg, run.root, log=run.log_line))
            trainer.callbacks.append(tracker)  # last, as for a single run
        trainers.append(trainer)
    population = PopulationTrainer(trainers, log=log, batched=batched)
    for t in trainers:
        t.log(
            "trained in a batched population"
            if population.batched
            else f"trained sequentially ({population.blocker})"
        )
    population.fit()
    results: list[BaseRun | TrainingError] = []
    for k, (cfg, run, trainer) in enumerate(zip(cfgs, runs, trainers, strict=True)):
        if k in population.failed:
            results.append(population.failed[k])
            continue
        done = finish_run(run, cfg, data, layers, trainer, started, transfers[k])
        if on_saved is not None:
            on_saved(done)
        trackers = [cb for cb in trainer.callbacks if isinstance(cb, Tracking)]
        for tracker in trackers:
            tracker.finish(run.root, done.metrics)  # final metrics and artifacts, the report among them
        results.append(done)
    return results, population.batched


def train_population(
    cfg: ExperimentConfig,
    n: int,
    out: str | Path | None = None,
    *,
    quiet: bool = False,
    vote: str = "plurality",
    batched: bool = True,
    on_saved: Callable[[BaseRun], None] | None = None,
) -> PopulationResult:
    """Train ``n`` seeds of ``cfg`` together into ``out`` (``RUN/members/k`` + the ensemble);
    each member is tracked as its own run (``cfg.track``) and passed to ``on_saved`` once saved
    (the API writes its report there)."""
    cfgs = member_configs(cfg, n)
    check_tracking(cfg.track)  # a missing optional package is bad input, before anything is written
    name = f"{cfg.name or cfg.data.dataset + '-' + (cfg.model.name or 'layers')}-population{n}"
    root = new_run_dir(out, name)
    runs = [RunPaths(root.root / "members" / str(k)) for k in range(n)]
    say = _printer(root, quiet)
    try:
        results, was_batched = train_members(
            cfgs, runs, log=say, batched=batched, tracking=True, on_saved=on_saved
        )
    except KnobwiseError as exc:
        if exc.exit_code == 2:
            shutil.rmtree(root.root, ignore_errors=True)  # bad input leaves nothing half-written
        raise
    done = [r for r in results if isinstance(r, BaseRun)]
    failed = [(k, r) for k, r in enumerate(results) if not isinstance(r, BaseRun)]
    if len(done) < 1:
        raise TrainingError(f"{root.root}: every population member failed ({failed[0][1]})")
    if len(done) == 1:
        say("one member finished: the ensemble is that member alone")
    paths = [r.root for r in done]
    facts = {"size": n, "batched": was_batched, "failed": [k for k, _ in failed]}
    _, metrics = write_ensemble(paths, vote, run=root, log=say, min_members=1, population=facts)
    if failed:
        raise TrainingError(
            f"{root.root}: members {', '.join(str(k) for k, _ in failed)} failed ({failed[0][1]}); "
            f"the ensemble holds the {len(done)} that finished"
        )
    return PopulationResult(root, metrics, done, was_batched)


def _printer(root: RunPaths, quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        root.log_line(line)
        if not quiet:
            print(line, flush=True)

    return say
