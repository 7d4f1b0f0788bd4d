"""Learning-rate schedules by name, built on ``torch.optim.lr_scheduler``.

Epoch-based schedules step once per epoch (``epoch`` counted from 0 for the first epoch), except
``one_cycle`` which steps per batch. Any schedule can be preceded by a linear warmup of
``warmup_epochs``.

==================  =====================================================================
name                learning rate at epoch e (α0 = ``train.optimizer.lr``)
==================  =====================================================================
constant            α0
inverse_time        α0 / (1 + decay·e)
exponential         α0·gamma^e, or α0·e^(−decay·e) when ``decay`` is given
inverse_sqrt        k·α0 / √(e + 1)
step                α0·gamma^⌊e / step_size⌋ (staircase)
multistep           α0·gamma^(number of milestones ≤ e)
reduce_on_plateau   × factor when ``monitor`` stalls for ``patience`` epochs, ≥ min_lr (Keras's rule)
cosine              cosine from α0 to min_lr over ``t_max`` epochs (default: all)
one_cycle           per batch: up to ``max_lr`` then down (Smith's 1cycle)
warmup              linear warmup over ``warmup_epochs``, then constant
==================  =====================================================================

Example:
    >>> import torch
    >>> from knobwise.config import ScheduleConfig
    >>> p = [torch.nn.Parameter(torch.zeros(1))]
    >>> opt = torch.optim.SGD(p, lr=1.0)
    >>> s = create_schedule(ScheduleConfig(name="inverse_time", decay=1.0), opt, epochs=3, steps_per_epoch=1)
    >>> s.step_epoch({}); round(opt.param_groups[0]["lr"], 3)
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import lr_scheduler as lrs

from knobwise.config import ScheduleConfig
from knobwise.errors import ConfigError
from knobwise.registry import Registry
from knobwise.train._plateau import KerasPlateau

__all__ = ["Schedule", "SCHEDULES", "create_schedule", "list_schedules", "register_schedule", "monitor_mode"]


def monitor_mode(monitor: str) -> str:
    """``max`` for metrics that grow when better (accuracy, *_score, f1, ...), else ``min``.

    >>> monitor_mode("val_accuracy"), monitor_mode("val_loss")
    ('max', 'min')
    """
    name = monitor.lower().removeprefix("val_")
    maximize = ("acc", "accuracy", "score", "f1", "precision", "recall", "auc", "hmean", "specificity")
    if name.endswith(("loss", "error", "_ms")) or "latency" in name:
        return "min"
    return "max" if any(name.endswith(m) or name.startswith(m) for m in maximize) else "min"


class Schedule:
    """A torch scheduler with the stepping rule knobwise needs (per batch or per epoch)."""

    def __init__(self, scheduler: Any | None, per_batch: bool = False, monitor: str | None = None) -> None:
        self.scheduler = scheduler
        self.per_batch = per_batch
        self.monitor = monitor

    def step_batch(self) -> None:
        """Called after every optimizer step."""
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def step_epoch(self, logs: dict[str, float]) -> None:
        """Called at the end of every epoch with that epoch's logs (for reduce_on_plateau)."""
        if self.scheduler is None or self.per_batch:
            return
        if isinstance(self.scheduler, KerasPlateau):
            assert self.monitor is not None
            if self.monitor not in logs:
                raise ConfigError(
                    f"train.schedule.monitor: {self.monitor!r} is not logged (logged: {', '.join(logs)})"
                )
            self.scheduler.step(logs[self.monitor])
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scheduler is None else dict(self.scheduler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


Factory = Callable[[ScheduleConfig, torch.optim.Optimizer, int, int], Schedule]
#: ``train.schedule.name`` → factory(cfg, optimizer, epochs, steps_per_epoch).
SCHEDULES: Registry[Factory] = Registry("schedule", key="train.schedule.name")


def register_schedule(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering a schedule factory under ``name``."""
    return SCHEDULES.register(name)


def list_schedules(pattern: str = "*") -> list[str]:
    """Names of the registered schedules."""
    return SCHEDULES.names(pattern)


def _need(cfg: ScheduleConfig, field: str) -> Any:
    value = getattr(cfg, field)
    if value is None:
        raise ConfigError(f"train.schedule.{field} is required for schedule {cfg.name!r}")
    return value


@register_schedule("constant")
def _constant(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    return Schedule(None)


@register_schedule("inverse_time")
def _inverse_time(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    decay = _need(cfg, "decay")
    return Schedule(lrs.LambdaLR(opt, lambda e: 1.0 / (1.0 + decay * e)))


@register_schedule("exponential")
def _exponential(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    if cfg.gamma is None and cfg.decay is None:
        raise ConfigError(
            "train.schedule: exponential needs gamma (α0·gamma^epoch) or decay (α0·e^(−decay·epoch))"
        )
    gamma = cfg.gamma if cfg.gamma is not None else math.exp(-float(cfg.decay or 0.0))
    return Schedule(lrs.ExponentialLR(opt, gamma=gamma))


@register_schedule("inverse_sqrt")
def _inverse_sqrt(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    k = cfg.k if cfg.k is not None else 1.0
    return Schedule(lrs.LambdaLR(opt, lambda e: k / math.sqrt(e + 1.0)))


@register_schedule("step")
def _step(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    return Schedule(lrs.StepLR(opt, step_size=_need(cfg, "step_size"), gamma=cfg.gamma or 0.1))


@register_schedule("multistep")
def _multistep(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    return Schedule(lrs.MultiStepLR(opt, milestones=_need(cfg, "milestones"), gamma=cfg.gamma or 0.1))


@register_schedule("reduce_on_plateau")
def _plateau(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    mode = monitor_mode(cfg.monitor) if cfg.mode == "auto" else cfg.mode
    sched = KerasPlateau(
        opt,
        mode=mode,
        factor=cfg.factor,
        patience=cfg.patience,
        min_delta=cfg.min_delta,
        cooldown=cfg.cooldown,
        min_lr=cfg.min_lr,
    )
    return Schedule(sched, monitor=cfg.monitor)


@register_schedule("cosine")
def _cosine(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    t_max = cfg.t_max or max(1, epochs - cfg.warmup_epochs)
    return Schedule(lrs.CosineAnnealingLR(opt, T_max=t_max, eta_min=cfg.min_lr))


@register_schedule("one_cycle")
def _one_cycle(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    # one peak per parameter group, in the groups' ratio (fine-tuning's backbone_lr_mult)
    base = opt.param_groups[0]["lr"]
    peak = cfg.max_lr or base
    max_lr = [peak * g["lr"] / base if base else peak for g in opt.param_groups]
    sched = lrs.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * steps, pct_start=cfg.pct_start)
    return Schedule(sched, per_batch=True)


@register_schedule("warmup")
def _warmup(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps: int) -> Schedule:
    if cfg.warmup_epochs < 1:
        raise ConfigError("train.schedule.warmup_epochs must be >= 1 for schedule 'warmup'")
    return Schedule(None)  # the warmup itself is added by create_schedule


def create_schedule(
    cfg: ScheduleConfig | None, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> Schedule:
    """The schedule named by ``cfg`` (constant when None), with a linear warmup when asked."""
    if cfg is None:
        return Schedule(None)
    main = SCHEDULES.get(cfg.name)(cfg, optimizer, epochs, steps_per_epoch)
    if cfg.warmup_epochs <= 0:
        return main
    if main.per_batch or isinstance(main.scheduler, KerasPlateau):
        raise ConfigError(f"train.schedule.warmup_epochs cannot be combined with schedule {cfg.name!r}")
    w = cfg.warmup_epochs
    warm = lrs.LinearLR(optimizer, start_factor=1.0 / (w + 1), end_factor=1.0, total_iters=w)
    after = main.scheduler or lrs.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return Schedule(lrs.SequentialLR(optimizer, [warm, after], milestones=[w]))
