"""One experiment end to end: config → data → model → train → evaluate → run directory.

This is what ``knobwise train`` does; tuning calls it as its objective.

Example:
    >>> from knobwise.config import load_config
    >>> cfg = load_config(None, ["train.epochs=1", "data.limit=300"])
    >>> result = train_experiment(cfg, out=None, quiet=True)  # doctest: +SKIP
    >>> result.metrics["test"]["accuracy"] > 0.5  # doctest: +SKIP
    True
"""

from __future__ import annotations

import platform
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

import knobwise
from knobwise.config import (
    ExperimentConfig,
    TTAConfig,
    apply_overrides,
    config_from_dict,
    config_to_yaml,
    read_yaml,
)
from knobwise.data import PreparedData, predict_tta, prepare_data, training_knobs
from knobwise.errors import ConfigError, KnobwiseError, RunError, TrainingError
from knobwise.metrics import (
    UndefinedMetricWarning,
    check_objective,
    check_objective_classes,
    logits_metrics,
    measure_latency,
    needs_latency,
    objective_lines,
    save_predictions,
)
from knobwise.models import build_from_layers, build_model, summarize
from knobwise.runs import (
    RunPaths,
    atomic_save_tensors,
    atomic_write_json,
    atomic_write_text,
    new_run_dir,
    open_run,
    read_json,
    write_csv,
)
from knobwise.train import Callback, Trainer, predict_logits, resolve_device

__all__ = [
    "RunResult",
    "train_experiment",
    "resume_config",
    "load_trained",
    "HistoryWriter",
    "finish_run",
    "training_seed",
]


@dataclass
class RunResult:
    """What a finished training run produced."""

    run: RunPaths
    config: ExperimentConfig
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    stop_reason: str | None


class HistoryWriter(Callback):
    """Rewrites ``history.csv`` after every epoch (atomically), so a killed run keeps its curve."""

    def __init__(self, run: RunPaths) -> None:
        self.run = run

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        write_csv(self.run.history, [*trainer.history, logs])
        self.run.log_line(
            f"epoch {epoch + 1}: " + ", ".join(f"{k}={v}" for k, v in logs.items() if k != "epoch")
        )


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


def evaluate_splits(
    model: torch.nn.Module,
    data: PreparedData,
    amp_dtype: torch.dtype | None = None,
    predictions: dict[str, dict[str, Any]] | None = None,
    splits: Sequence[str] | None = None,
    tta: TTAConfig | None = None,
) -> dict[str, Any]:
    """Loss, accuracy, error and the full metric family on every split of ``data`` (eval mode),
    and per source (``"sources": {tag: {...}}``) when a split has source tags.

    ``predictions``, when given, is filled with each split's per-example outputs for
    :func:`knobwise.metrics.save_predictions`; ``splits`` limits the splits evaluated.
    """
    out: dict[str, Any] = {}
    for name, split in data.splits.items():
        if len(split) == 0 or (splits is not None and name not in splits):
            continue
        if tta is not None:  # evaluate.tta: log of the view-averaged probabilities serve as logits
            logits = predict_tta(
                lambda v: predict_logits(model, v, amp_dtype=amp_dtype), split.x, tta, data.normalizer
            )
        else:
            logits = predict_logits(model, split.x, amp_dtype=amp_dtype)
        out[name] = logits_metrics(logits, split.y, data.classes)
        if split.groups is not None:
            groups = split.groups.astype(str)
            out[name]["sources"] = {}
            for tag in sorted(set(groups.tolist())):
                mask = torch.as_tensor(groups == tag, device=logits.device)
                out[name]["sources"][tag] = logits_metrics(logits[mask], split.y[mask], data.classes)
        if predictions is not None:
            predictions[name] = {
                "index": split.index,
                "true": split.y,
                "pred": logits.argmax(1),
                "proba": torch.softmax(logits.float(), 1),
                "ids": split.ids,
                "source": split.groups,
            }
    return out


def train_experiment(
    cfg: ExperimentConfig,
    out: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    knob_changes: Sequence[str] = (),
    quiet: bool = False,
    callbacks: Sequence[Callback] = (),
    withhold_splits: Sequence[str] = (),
) -> RunResult:
    """Train ``cfg`` into a new run directory (``out`` or ``runs/<time>-<name>``), or continue the
    run ``resume`` (whose ``cfg`` comes from :func:`resume_config`).

    ``withhold_splits`` are never loaded nor evaluated (tuning withholds ``test``).

    Bad input raises before anything is written; a failure after the run directory was created
    for a new run removes it again unless training itself failed (then the checkpoint is kept).
    """
    device = resolve_device(cfg.train.device)
    torch.manual_seed(cfg.seed)
    data = prepare_data(cfg.data, seed=cfg.seed, device=device, withhold=tuple(withhold_splits))
    torch.manual_seed(training_seed(cfg))  # the initial weights depend on the seed alone
    model = build_model(cfg.model, data.input_shape, data.num_classes)  # checks the output size too
    layers = model.layers_spec

    created = resume is None
    run = open_run(resume) if resume is not None else new_run_dir(out, cfg.name or _default_name(cfg))
    try:
        return _train_in(run, cfg, data, model, layers, resume is not None, knob_changes, quiet, callbacks)
    except KnobwiseError as exc:
        if created and exc.exit_code == 2:
            shutil.rmtree(run.root, ignore_errors=True)  # bad input leaves nothing half-written
        raise
    except BaseException:
        if created and not (run.checkpoint / "latest").exists():
            shutil.rmtree(run.root, ignore_errors=True)
        raise


def training_seed(cfg: ExperimentConfig) -> int:
    """The seed of initialization, data order, augmentation and dropout: ``train.seed`` when set,
    else ``seed`` (which always seeds the data split)."""
    return cfg.seed if cfg.train.seed is None else cfg.train.seed


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
) -> RunResult:
    started = time.time()
    knobs = training_knobs(cfg.data, cfg.train.loss, data)  # augmentation, balance, sample weights
    trainer = Trainer(
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
    if resuming:
        trainer.load_checkpoint(run.checkpoint)
        if knob_changes:
            _apply_knob_changes(trainer, cfg, knob_changes)
        if trainer.epoch < cfg.train.epochs:
            trainer.stop_reason = None  # more epochs were asked for: an early stop is lifted
        trainer.log(f"resumed {run.root} at epoch {trainer.epoch}")
    else:
        for line in [*data.describe(), *knobs.lines]:
            trainer.log(line)
        from knobwise.diagnose import find_leakage  # diagnose sits above train; imported late

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
    return finish_run(run, cfg, data, layers, trainer, started)


def finish_run(
    run: RunPaths,
    cfg: ExperimentConfig,
    data: PreparedData,
    layers: list[dict[str, Any]],
    trainer: Trainer,
    started: float,
) -> RunResult:
    """Write a trained run: history, weights, model.json, metrics of every split, predictions
    and the report (a population member is finished the same way)."""
    history = trainer.history
    write_csv(run.history, history)
    atomic_save_tensors(run.weights, trainer.model.state_dict(), metadata={"format": "knobwise"})
    atomic_write_json(run.model_json, _model_json(cfg, data, layers))
    predictions: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        metrics = evaluate_splits(
            trainer.model, data, trainer.amp_dtype, predictions=predictions, tta=cfg.evaluate.tta
        )
    for w in caught:
        if not issubclass(w.category, UndefinedMetricWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    undefined = any(issubclass(w.category, UndefinedMetricWarning) for w in caught)
    if undefined:  # one line in the log instead of a Python warning per split
        trainer.log(
            "note: some rates have a zero denominator (e.g. LR+ with no false positives) and are "
            "written as null in metrics.json, never as 0"
        )
    summary = summarize(trainer.model, data.input_shape)
    metrics["model"] = {"params": summary.total_params, "size_mb": summary.size_mb, "depth": summary.depth}
    metrics["run"] = {
        "epochs": trainer.epoch,
        "stop_reason": trainer.stop_reason,
        "duration_s": time.time() - started,
        "device": _device_name(trainer.device),
        "seed": training_seed(cfg),
        "knobwise_version": knobwise.__version__,
        "torch_version": torch.__version__,
    }
    _check_objective(trainer, cfg, data, metrics)
    save_predictions(run.predictions, predictions, data.classes)
    atomic_write_json(run.metrics, metrics)
    _write_report(run, data, trainer.model)
    return RunResult(run, cfg, history, metrics, trainer.stop_reason)


def _write_report(run: RunPaths, data: PreparedData, model: torch.nn.Module) -> None:
    """``report.html`` and its figures, last, reusing the data and model in memory. A failure
    keeps the saved run (everything else is written by now) and is exit code 1, logged."""
    try:
        from knobwise.report import write_run_report  # matplotlib loads only when a run finishes

        write_run_report(run.root, data=data, model=model)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        run.log_line(f"report failed: {reason}")
        raise TrainingError(
            f"{run.root}: the run is saved but its report failed ({reason}); "
            f"retry with `knobwise report {run.root}`"
        ) from exc


def _check_objective(
    trainer: Trainer, cfg: ExperimentConfig, data: PreparedData, metrics: dict[str, Any]
) -> None:
    """The optimizing metric and the constraints of ``cfg.evaluate``, logged and stored in
    ``metrics["objective"]``; latency is measured only when the objective reads it."""
    ev = cfg.evaluate
    if needs_latency(ev.metric, ev.constraints):
        example = next(s.x[:1] for s in data.splits.values() if len(s))
        metrics["latency"] = measure_latency(trainer.model, example, amp_dtype=trainer.amp_dtype)
    try:
        metrics["objective"] = check_objective(metrics, ev.metric, ev.constraints, ev.direction)
    except KnobwiseError as exc:  # a trained model is never thrown away over its objective
        metrics["objective"] = {"metric": ev.metric, "value": None, "constraints": [], "error": str(exc)}
    for line in objective_lines(metrics["objective"]):
        trainer.log(line)


def _apply_knob_changes(trainer: Trainer, cfg: ExperimentConfig, keys: Sequence[str]) -> None:
    """Babysitting: a resumed run takes the optimizer settings that were changed (and only those:
    a run resumed with just more epochs keeps the learning rate its schedule had reached); the
    change is logged and recorded in the next history row."""
    opt = cfg.train.optimizer
    changed = {k.split("=", 1)[0].strip().removeprefix("train.optimizer.") for k in keys}
    for group in trainer.optimizer.param_groups:
        for name in ("lr", "momentum", "weight_decay", "nesterov", "betas", "eps", "rho", "alpha"):
            if name in changed and name in group and getattr(opt, name) is not None:
                group[name] = getattr(opt, name)
        if "lr" in changed:
            group["initial_lr"] = opt.lr
    sched = trainer.schedule.scheduler
    if "lr" in changed and sched is not None and hasattr(sched, "base_lrs"):
        sched.base_lrs = [opt.lr for _ in sched.base_lrs]
    trainer.note = "; ".join(keys)
    trainer.log(f"knob change at epoch {trainer.epoch}: " + ", ".join(keys))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def load_trained(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of a run (weights from safetensors) and its ``model.json``."""
    run = open_run(run_dir)
    if not run.weights.is_file():
        raise RunError(f"{run.root}: no model.safetensors (the run has not finished; --resume it)")
    meta = read_json(run.model_json)
    model = build_from_layers(meta["layers"], tuple(meta["input_shape"]), None)
    from knobwise.runs import load_tensors

    model.load_state_dict(load_tensors(run.weights, device))
    return model.to(device).eval(), meta


def dump_yaml(obj: Any) -> str:
    """YAML text of a plain object (for the CLI)."""
    return yaml.safe_dump(obj, sort_keys=False)
