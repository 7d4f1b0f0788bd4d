"""Training a run end to end: config → data → model → train → evaluate → run directory.

This is what ``knobwise train`` and :func:`knobwise.train` do (the report is written above this
layer, by the API); tuning calls it as its objective.

Example:
    >>> from knobwise.config import load_config
    >>> cfg = load_config(None, ["train.epochs=1", "data.limit=300"])
    >>> run = train_experiment(cfg, out=None, quiet=True)  # doctest: +SKIP
    >>> run.metrics["test"]["accuracy"] > 0.5  # doctest: +SKIP
    True
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import knobwise
from knobwise.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_yaml, read_yaml
from knobwise.data import PreparedData, TrainingKnobs, find_leakage, prepare_data, training_knobs
from knobwise.device import describe_device, resolve_device
from knobwise.errors import ConfigError, KnobwiseError
from knobwise.io import atomic_save_tensors, atomic_write_json, atomic_write_text, write_csv
from knobwise.metrics import check_objective_classes, objective_lines, save_predictions
from knobwise.models import Transfer, apply_transfer, build_model, summarize
from knobwise.run._evaluate import (
    UNDEFINED_NOTE,
    evaluate_splits,
    model_facts,
    objective_of,
    quietly_undefined,
)
from knobwise.run._layout import RunPaths, new_run_dir, open_run
from knobwise.run._run import BaseRun
from knobwise.run._unfinished import STOPPED
from knobwise.track import TrackContext, Tracking, check_tracking, open_tracking
from knobwise.train import Callback, Trainer

__all__ = ["train_experiment", "resume_config", "HistoryWriter", "epoch_line", "finish_run", "training_seed"]


class HistoryWriter(Callback):
    """Rewrites ``history.csv`` after every epoch (atomically), so a killed run keeps its curve."""

    def __init__(self, run: RunPaths) -> None:
        self.run = run

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        write_csv(self.run.history, [*trainer.history, logs])
        self.run.log_line(epoch_line(epoch, logs))


def epoch_line(epoch: int, logs: dict[str, Any]) -> str:
    """The ``log.txt`` line of an epoch (0-based ``epoch``): values to 4 significant digits and the
    time in seconds to 0.1 s, for reading; ``history.csv`` keeps every digit.

    >>> epoch_line(0, {"epoch": 1, "loss": 0.6275689601898193, "lr": 0.0022500000000000003,
    ...                "time": 14.468316120000964, "grad_norm/dense_1": 1.361992597579956})
    'epoch 1: loss=0.6276, lr=0.00225, time=14.5s, grad_norm/dense_1=1.362'
    """

    def show(key: str, value: Any) -> str:
        if key == "time" and isinstance(value, int | float):
            return f"{value:.1f}s"
        if isinstance(value, float):
            return f"{value:.4g}"
        return "n/a" if value is None else str(value)

    return f"epoch {epoch + 1}: " + ", ".join(f"{k}={show(k, v)}" for k, v in logs.items() if k != "epoch")


def resume_config(
    run_dir: str | Path, overrides: Sequence[str] | None = None
) -> tuple[RunPaths, ExperimentConfig, list[str]]:
    """The saved config of ``run_dir`` with ``overrides`` applied, and the keys that changed."""
    run = open_run(run_dir)
    saved = read_yaml(run.config)
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        # The checkpoint holds this model trained on this data with this optimizer: those stay.
        if key.split(".")[0] in ("model", "data", "seed") or key in (
            "train.optimizer",
            "train.optimizer.name",
        ):
            raise ConfigError(
                f"--set {key}: a resumed run keeps its model, data, seed and optimizer type; babysitting "
                "changes training knobs (train.epochs, train.optimizer.lr, momentum, weight_decay, ...)"
            )
    cfg = config_from_dict(apply_overrides(saved, list(overrides or [])))
    changed = [o.strip() for o in overrides or []]
    return run, cfg, changed


def _model_json(cfg: ExperimentConfig, data: PreparedData, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "layers": layers,
        "init": cfg.model.init,
        "input_shape": list(data.input_shape),
        "classes": list(data.classes),
        "data": data.to_dict(),
        "knobwise_version": knobwise.__version__,
        "torch_version": torch.__version__,
    }


def train_experiment(
    cfg: ExperimentConfig,
    out: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    knob_changes: Sequence[str] = (),
    quiet: bool = False,
    callbacks: Sequence[Callback] = (),
    withhold_splits: Sequence[str] = (),
    tracking: TrackContext | None = None,
    on_saved: Callable[[BaseRun], None] | None = None,
    data: PreparedData | None = None,
) -> BaseRun:
    """Train ``cfg`` into a new run directory (``out`` or ``runs/<time>-<name>``), or continue the
    run ``resume`` (whose ``cfg`` comes from :func:`resume_config`).

    ``withhold_splits`` are never loaded nor evaluated (tuning withholds ``test``); ``tracking``
    is how a study's worker has a trial tracked (see :mod:`knobwise.track`); ``on_saved`` is
    called with the saved run before the trackers finish (the API writes the report there, so
    the trackers log it as an artifact). ``data``, when given,
    is what ``prepare_data(cfg.data, cfg.seed, device, withhold_splits)`` returns: a tuning worker
    prepares it once and reuses it for every trial with the same data section and seed.

    Bad input raises before anything is written; a failure after the run directory was created
    for a new run removes it again unless training itself failed (then the checkpoint is kept).
    """
    check_tracking(cfg.track)  # a missing optional package is bad input, before anything is written
    device = resolve_device(cfg.train.device)
    if data is None:
        torch.manual_seed(cfg.seed)
        data = prepare_data(cfg.data, seed=cfg.seed, device=device, withhold=tuple(withhold_splits))
    torch.manual_seed(training_seed(cfg))  # the initial weights depend on the seed alone
    model = build_model(cfg.model, data.input_shape, data.num_classes)  # checks the output size too
    # model.pretrained, model.freeze (a source's head for other classes is not loaded)
    transfer = apply_transfer(model, cfg.model, load=resume is None, classes=list(data.classes))
    layers = model.layers_spec

    created = resume is None
    run = open_run(resume) if resume is not None else new_run_dir(out, cfg.name or _default_name(cfg))
    try:
        with open_tracking(cfg, run.root, context=tracking, resuming=resume is not None) as tracker:
            done = _train_in(
                run,
                cfg,
                data,
                model,
                layers,
                resume is not None,
                knob_changes,
                quiet,
                callbacks,
                tracker,
                transfer,
            )
            if on_saved is not None:
                on_saved(done)
            tracker.finish(run.root, done.metrics)  # final metrics and artifacts, the report among them
            return done
    except KnobwiseError as exc:
        if created and exc.exit_code == 2:
            shutil.rmtree(run.root, ignore_errors=True)  # bad input leaves nothing half-written
        elif run.root.is_dir():
            run.log_line(STOPPED + str(exc))  # what report/evaluate say about this run later
        raise
    except BaseException:
        if created and not (run.checkpoint / "latest").exists():
            shutil.rmtree(run.root, ignore_errors=True)
        raise


def training_seed(cfg: ExperimentConfig) -> int:
    """The seed of initialization, data order, augmentation and dropout: ``train.seed`` when set,
    else ``seed`` (which always seeds the data split)."""
    return cfg.seed if cfg.train.seed is None else cfg.train.seed


def run_trainer(
    model: torch.nn.Module,
    data: PreparedData,
    cfg: ExperimentConfig,
    run: RunPaths,
    knobs: TrainingKnobs,
    callbacks: Sequence[Callback] = (),
    quiet: bool = False,
) -> Trainer:
    """The :class:`Trainer` of a run directory: the history writer first, then ``callbacks``;
    checkpoints and log lines in ``run``; the data knobs (augmentation, balance, sample weights)."""
    return Trainer(
        model,
        data,
        cfg.train,
        seed=training_seed(cfg),
        callbacks=[HistoryWriter(run), *callbacks],
        checkpoint_dir=run.checkpoint,
        quiet=quiet,
        log=run.log_line,
        batch_transform=knobs.batch_transform,
        sample_weight=knobs.sample_weight,
        index_sampler=knobs.index_sampler,
    )


def _default_name(cfg: ExperimentConfig) -> str:
    return f"{cfg.data.dataset}-{cfg.model.name or 'layers'}"


def _train_in(
    run: RunPaths,
    cfg: ExperimentConfig,
    data: PreparedData,
    model: torch.nn.Module,
    layers: list[dict[str, Any]],
    resuming: bool,
    knob_changes: Sequence[str],
    quiet: bool,
    callbacks: Sequence[Callback],
    tracker: Tracking,
    transfer: Transfer | None = None,
) -> BaseRun:
    started = time.time()
    knobs = training_knobs(cfg.data, cfg.train.loss, data)  # augmentation, balance, sample weights
    trainer = run_trainer(model, data, cfg, run, knobs, callbacks, quiet)
    trainer.callbacks.append(tracker)  # last: checkpointed callback states keep their positions
    if resuming:
        trainer.load_checkpoint(run.checkpoint)
        if knob_changes:
            _apply_knob_changes(trainer, cfg, knob_changes)
        if trainer.epoch < cfg.train.epochs:
            trainer.stop_reason = None  # more epochs were asked for: an early stop is lifted
        trainer.log(f"resumed {run.root} at epoch {trainer.epoch}")
    else:
        for line in [*data.describe(), *knobs.lines, *(transfer.lines if transfer else [])]:
            trainer.log(line)
        trainer.log(find_leakage(data, max_pairs=3e7).summary())  # exact: all; near: bounded sample
        summary = summarize(model, data.input_shape)
        trainer.log(
            f"model: {cfg.model.name or 'layer list'}, {summary.total_params:,} parameters, "
            f"device {trainer.device.type}"
        )
    # An objective naming a class the data lacks is bad input: refuse it before training, not after.
    check_objective_classes(cfg.evaluate.metric, cfg.evaluate.constraints, data.classes)
    atomic_write_text(run.config, config_to_yaml(cfg))
    trainer.fit()
    return finish_run(run, cfg, data, layers, trainer, started, transfer)


def finish_run(
    run: RunPaths,
    cfg: ExperimentConfig,
    data: PreparedData,
    layers: list[dict[str, Any]],
    trainer: Trainer,
    started: float,
    transfer: Transfer | None = None,
) -> BaseRun:
    """Write a trained run: history, weights, model.json, metrics of every split and predictions
    (a population member is finished the same way); returns it as a :class:`BaseRun` that still
    holds its data and model. The report is written above this layer."""
    history = trainer.history
    write_csv(run.history, history)
    atomic_save_tensors(run.weights, trainer.model.state_dict(), metadata={"format": "knobwise"})
    meta = _model_json(cfg, data, layers)
    if transfer is not None and transfer.metadata:
        meta["transfer"] = transfer.metadata  # what model.pretrained loaded, what model.freeze froze
    atomic_write_json(run.model_json, meta)
    predictions: dict[str, dict[str, Any]] = {}
    metrics, undefined = quietly_undefined(
        lambda: evaluate_splits(trainer.model, data, trainer.amp_dtype, predictions, tta=cfg.evaluate.tta)
    )
    if undefined:  # one line in the log instead of a Python warning per split
        trainer.log(UNDEFINED_NOTE)
    metrics["model"] = model_facts(trainer.model, data.input_shape)
    metrics["run"] = {
        "epochs": trainer.epoch,
        "stop_reason": trainer.stop_reason,
        "duration_s": time.time() - started,
        "device": describe_device(trainer.device, threads=True),
        "seed": training_seed(cfg),
        "knobwise_version": knobwise.__version__,
        "torch_version": torch.__version__,
    }
    objective_of(metrics, cfg.evaluate, trainer.model, data, trainer.amp_dtype)
    for line in objective_lines(metrics["objective"]):
        trainer.log(line)
    save_predictions(run.predictions, predictions, data.classes)
    atomic_write_json(run.metrics, metrics)
    # The run keeps the data and the trained model in memory: the report, predict and export
    # that follow in the same process reuse them instead of loading them again.
    return BaseRun.from_training(run.root, cfg, data, trainer.model, trainer.amp_dtype, history, metrics)


def _apply_knob_changes(trainer: Trainer, cfg: ExperimentConfig, keys: Sequence[str]) -> None:
    """Babysitting: a resumed run takes the optimizer settings that were changed (and only those:
    a run resumed with just more epochs keeps the learning rate its schedule had reached); the
    change is logged and recorded in the next history row."""
    opt = cfg.train.optimizer
    changed = {k.split("=", 1)[0].strip().removeprefix("train.optimizer.") for k in keys}
    groups = trainer.optimizer.param_groups
    # A new learning rate keeps each group's ratio to the first (the head): with train.fine_tune
    # the backbone group stays at backbone_lr_mult times the head's rate.
    first = groups[0].get("initial_lr", groups[0]["lr"])
    ratios = [g.get("initial_lr", g["lr"]) / first if first else 1.0 for g in groups]
    for group, ratio in zip(groups, ratios, strict=True):
        for name in ("momentum", "weight_decay", "nesterov", "betas", "eps", "rho", "alpha"):
            if name in changed and name in group and getattr(opt, name) is not None:
                group[name] = getattr(opt, name)
        if "lr" in changed:
            group["lr"] = group["initial_lr"] = opt.lr * ratio
    sched = trainer.schedule.scheduler
    if "lr" in changed and sched is not None and hasattr(sched, "base_lrs"):
        sched.base_lrs = [opt.lr * ratio for ratio in ratios]
    trainer.note = "; ".join(keys)
    trainer.log(f"knob change at epoch {trainer.epoch}: " + ", ".join(keys))
