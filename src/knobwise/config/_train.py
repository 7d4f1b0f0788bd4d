"""The ``train:`` section: epochs, batches, optimizer, schedule, loss, early stopping, device."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from knobwise.config._base import Section


class OptimizerConfig(Section):
    """A ``torch.optim`` optimizer by name with its hyperparameters.

    ``momentum_form`` picks the textbook form of momentum for SGD: ``pytorch`` (v = βv + g, the
    form of ``torch.optim.SGD``, equivalent to v = βv − ηg with a constant rate) or ``ema``
    (v = βv + (1−β)g, implemented with ``dampening = β``).
    """

    name: str = "adam"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    momentum_form: Literal["pytorch", "ema"] = "pytorch"
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] | None = None
    eps: float | None = Field(None, gt=0.0)
    rho: float | None = Field(None, gt=0.0, lt=1.0)
    alpha: float | None = Field(None, gt=0.0, lt=1.0)
    centered: bool | None = None
    amsgrad: bool | None = None


class ScheduleConfig(Section):
    """A learning-rate schedule by name; each name reads the fields it needs.

    Epoch-based unless noted. See ``knobwise.train.list_schedules()`` for the names.
    """

    name: str = "constant"
    decay: float | None = Field(None, ge=0.0, description="inverse_time / exponential decay rate")
    gamma: float | None = Field(None, gt=0.0, description="multiplicative factor (step, exponential)")
    step_size: int | None = Field(None, ge=1)
    milestones: list[int] | None = None
    k: float | None = Field(None, gt=0.0, description="inverse_sqrt: lr = k*lr0/sqrt(epoch)")
    monitor: str = "val_loss"
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0.0)
    cooldown: int = Field(0, ge=0)
    t_max: int | None = Field(None, ge=1)
    max_lr: float | None = Field(None, gt=0.0)
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    warmup_epochs: int = Field(0, ge=0)


class EarlyStoppingConfig(Section):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True


class LossConfig(Section):
    """The loss by name. ``class_weight``: a list (one per class), a ``{class: weight}`` map or
    ``balanced`` (n_samples / (n_classes * count))."""

    name: str = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    class_weight: list[float] | dict[str, float] | Literal["balanced"] | None = None
    margin: float = Field(1.0, gt=0.0, description="multiclass_hinge margin")


class TrainConfig(Section):
    """How the model is fitted."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig | None = None
    loss: LossConfig = Field(default_factory=LossConfig)
    l2: float = Field(0.0, ge=0.0, description="λ of the λ/2m Σw² cost term (weights, not biases)")
    early_stopping: EarlyStoppingConfig | None = None
    clip_grad_norm: float | None = Field(None, gt=0.0, description="clip the global gradient norm to this")
    grad_stats: bool = Field(
        True, description="record per-layer gradient norms (grad_norm/<layer>) per epoch"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    threads: int | None = Field(None, ge=1)
    seed: int | None = Field(
        None,
        description="seed of the initial weights, data order, augmentation and dropout (default: the "
        "top-level seed, which also splits the data); population members differ only in this",
    )

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v
