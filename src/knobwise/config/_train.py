"""The ``train:`` section: epochs, batches, optimizer, schedule, loss, early stopping, device."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, field_validator, model_validator

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
    history_size: int | None = Field(
        None, ge=1, description="lbfgs: curvature pairs kept (torch default 100)"
    )
    max_iter: int | None = Field(None, ge=1, description="lbfgs: iterations per step (torch default 20)")
    line_search: Literal["strong_wolfe", "none"] | None = Field(
        None, description="lbfgs: strong_wolfe line search, or none (a fixed step lr)"
    )
    tolerance_grad: float | None = Field(None, gt=0.0, description="lbfgs: stop a step below this gradient")
    tolerance_change: float | None = Field(None, gt=0.0, description="lbfgs: stop a step below this change")


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
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="reduce_on_plateau: auto infers the direction from the monitor's name"
    )
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0, description="reduce_on_plateau: epochs without improvement")
    min_delta: float = Field(
        1e-4, ge=0.0, description="reduce_on_plateau: an improvement beats the best by more than this"
    )
    min_lr: float = Field(0.0, ge=0.0)
    cooldown: int = Field(0, ge=0, description="reduce_on_plateau: epochs after a drop not counted")
    t_max: int | None = Field(None, ge=1)
    max_lr: float | None = Field(None, gt=0.0)
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    warmup_epochs: int = Field(0, ge=0)


class EarlyStoppingConfig(Section):
    """Stop after ``patience`` epochs in a row in which ``monitor`` did not improve by more than
    ``min_delta`` (Keras's ``EarlyStopping`` rule; ``patience: 0`` stops at the first such epoch,
    like 1). ``restore_best`` (Keras: ``restore_best_weights``, accepted as an alias) puts back the
    weights of the best epoch when training ends, stopped early or not. ``baseline``: an epoch
    restarts the patience count only when it also beats this value. ``start_from_epoch``: epochs
    not monitored at the start (warm-up)."""

    model_config = ConfigDict(populate_by_name=True)

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = Field(True, validation_alias=AliasChoices("restore_best", "restore_best_weights"))
    baseline: float | None = None
    start_from_epoch: int = Field(0, ge=0)


class LossConfig(Section):
    """The loss by name. ``class_weight``: a list (one per class), a ``{class: weight}`` map or
    ``balanced`` (n_samples / (n_classes * count))."""

    name: str = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    class_weight: list[float] | dict[str, float] | Literal["balanced"] | None = None
    margin: float = Field(1.0, gt=0.0, description="multiclass_hinge / crammer_singer_hinge margin")


class FineTuneConfig(Section):
    """Transfer learning: the backbone (every layer but the head) learns at ``backbone_lr_mult``
    times the learning rate (its own optimizer parameter group); a backbone frozen by
    ``model.freeze`` starts learning at epoch ``unfreeze_at_epoch`` (0-based; None: stays frozen)."""

    unfreeze_at_epoch: int | None = Field(None, ge=0)
    backbone_lr_mult: float = Field(0.1, ge=0.0)


class TrainConfig(Section):
    """How the model is fitted."""

    epochs: int = Field(10, ge=1)
    batch_size: int | Literal["full"] = Field(
        128, description="examples per step (>= 1), or full: the whole training set as one batch"
    )
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig | None = None
    loss: LossConfig = Field(default_factory=LossConfig)
    l2: float = Field(0.0, ge=0.0, description="λ of the λ/2m Σw² cost term (weights, not biases)")
    l2_mode: Literal["per_example", "per_batch"] = Field(
        "per_example",
        description="per_example: λ/(2n) Σw², n = training examples (the textbook form); "
        "per_batch: λ/(2B) Σw², B = mini-batches per epoch (Nielsen's network3.py)",
    )
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
    fine_tune: FineTuneConfig | None = Field(None, description="discriminative learning rate, unfreezing")
    seed: int | None = Field(
        None,
        description="seed of the initial weights, data order, augmentation and dropout (default: the "
        "top-level seed, which also splits the data); population members differ only in this",
    )

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size(cls, v: Any) -> Any:
        if v == "full":
            return v
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"train.batch_size must be an integer >= 1 or 'full', got {v!r}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _lbfgs_full_batch(cls, v: Any) -> Any:
        # L-BFGS is a full-batch method: its line search and curvature pairs assume the same
        # objective at every iteration, so it gets the whole training set unless told otherwise.
        if isinstance(v, dict) and "batch_size" not in v:
            opt = v.get("optimizer")
            name = opt.get("name") if isinstance(opt, dict) else getattr(opt, "name", None)
            if name == "lbfgs":
                return {**v, "batch_size": "full"}
        return v

    def batch_for(self, n: int) -> int:
        """The batch size for a training set of ``n`` examples (``full`` is ``n``).

        >>> TrainConfig(batch_size="full").batch_for(569), TrainConfig(batch_size=32).batch_for(569)
        (569, 32)
        """
        return max(1, n) if self.batch_size == "full" else int(self.batch_size)

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v
