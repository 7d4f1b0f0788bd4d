"""The data knobs wired together: what ``prepare_data`` builds once (source pooling, per-example
weights, expansion, minority augmentation) and what the trainer applies every epoch
(augmentation as the batch transform of the training split, the class sampler, the weights).

Dev, train-dev and test are never touched: every function here changes only ``train``.

Example:
    >>> from knobwise.config import load_config
    >>> from knobwise.data import prepare_data
    >>> sets = ["data.limit=200", "data.augment={rotation_range: 10}", "data.balance=oversample"]
    >>> cfg = load_config(None, sets)
    >>> data = prepare_data(cfg.data, seed=0)
    >>> knobs = training_knobs(cfg.data, cfg.train.loss, data)
    >>> knobs.batch_transform is not None, knobs.index_sampler is not None
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from knobwise.config import DataConfig, LossConfig
from knobwise.data._augment import AugmentPipeline
from knobwise.data._balance import ClassSampler, augment_minority, balanced_weights
from knobwise.data._expand import expand_split
from knobwise.data._normalize import Normalizer
from knobwise.data._prepared import PreparedData, SplitData
from knobwise.data._source import Source
from knobwise.data._sources_multi import plan_by_source, source_strata
from knobwise.data._split import SplitPlan, plan_splits
from knobwise.data._weights import pool_weights
from knobwise.errors import ConfigError

__all__ = [
    "TrainingKnobs",
    "training_knobs",
    "plan_pool",
    "split_weights",
    "build_train_knobs",
]

#: Losses that accept soft (N, K) targets, which MixUp and CutMix produce.
SOFT_TARGET_LOSSES = ("cross_entropy", "binary_cross_entropy")


def plan_pool(
    cfg: DataConfig, src: Source, keep: np.ndarray, y_test: np.ndarray | None, seed: int
) -> SplitPlan:
    """The split plan: by source (``split.by_source``), stratified on (class, source) for a
    multi-source pool, else the ordinary plan."""
    if cfg.sources and src.groups is not None:
        if cfg.split.by_source:
            return plan_by_source(src.y[keep], src.groups[keep], cfg.split, seed)
        return plan_splits(source_strata(src.y[keep], src.groups[keep]), None, cfg.split, seed)
    return plan_splits(src.y[keep], y_test, cfg.split, seed)


def split_weights(
    cfg: DataConfig, src: Source, where: dict[str, tuple[np.ndarray, bool]]
) -> dict[str, np.ndarray]:
    """``data.sample_weight`` per split (empty when unset)."""
    if cfg.sample_weight is None:
        return {}
    w, w_test = pool_weights(cfg, src)
    out = {}
    for name, (idx, test_side) in where.items():
        side = w_test if test_side else w
        out[name] = side[idx] if side is not None else np.ones(len(idx))
    return out


def build_train_knobs(
    cfg: DataConfig, splits: dict[str, SplitData], normalizer: Normalizer, num_classes: int, seed: int
) -> tuple[list[int] | None, list[str]]:
    """Expand the training split and add minority copies (once, on the device); returns the new
    training class counts (None when unchanged) and log lines."""
    lines: list[str] = []
    train = splits.get("train")
    if train is None:
        return None, lines
    changed = False
    if cfg.expand is not None:
        train, line = expand_split(train, cfg.expand, normalizer, seed)
        lines.append(line)
        changed = True
    if cfg.balance is not None and cfg.balance.method == "augment_minority":
        train, line = augment_minority(train, cfg.balance, cfg.augment, normalizer, num_classes, seed)
        lines.append(line)
        changed = True
    splits["train"] = train
    counts = torch.bincount(train.y, minlength=num_classes).tolist() if changed else None
    return counts, lines


@dataclass
class TrainingKnobs:
    """What the trainer takes from the data knobs (``Trainer(**knobs.trainer_kwargs())``)."""

    batch_transform: AugmentPipeline | None = None
    sample_weight: torch.Tensor | None = None
    index_sampler: ClassSampler | None = None
    lines: list[str] = field(default_factory=list)

    def trainer_kwargs(self) -> dict[str, object]:
        return {
            "batch_transform": self.batch_transform,
            "sample_weight": self.sample_weight,
            "index_sampler": self.index_sampler,
        }


def training_knobs(cfg: DataConfig, loss: LossConfig, data: PreparedData) -> TrainingKnobs:
    """The per-epoch knobs for training on ``data.splits['train']``; bad combinations raise
    :class:`ConfigError` before anything trains."""
    train = data.splits["train"]
    knobs = TrainingKnobs()
    if cfg.augment is not None:
        if cfg.augment.mixes and loss.name not in SOFT_TARGET_LOSSES:
            raise ConfigError(
                f"data.augment mixup/cutmix make soft targets; train.loss.name must be one of "
                f"{', '.join(SOFT_TARGET_LOSSES)}, got {loss.name!r}"
            )
        knobs.batch_transform = AugmentPipeline(cfg.augment, data.normalizer, data.num_classes)
        knobs.lines.append(knobs.batch_transform.describe())
    weight = train.weight
    method = cfg.balance.method if cfg.balance is not None else None
    if method == "class_weight":
        if loss.class_weight is not None:
            raise ConfigError(
                "data.balance: class_weight and train.loss.class_weight are both set; use one of them"
            )
        cw = balanced_weights(train.y, data.num_classes)
        weight = cw if weight is None else weight * cw
        knobs.lines.append("data.balance class_weight: per-example weights n / (K * n_class)")
    elif method in ("oversample", "undersample"):
        knobs.index_sampler = ClassSampler(train.y, data.num_classes, method)
        s = knobs.index_sampler
        knobs.lines.append(f"data.balance {method}: {s.per_class} per class, {s.size} examples per epoch")
    knobs.sample_weight = weight
    if train.weight is not None:
        knobs.lines.append(
            f"data.sample_weight: {int((train.weight > 0).sum())} of {len(train)} training examples weigh > 0"
        )
    return knobs
