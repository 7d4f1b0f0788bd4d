"""Class balance of the training split: the four corrections (the imbalance line is in ``_split``).

- ``oversample``: every epoch, each class contributes as many examples as the largest one — all
  of its own plus random repeats (with replacement), redrawn on the device each epoch;
- ``undersample``: every epoch, each class contributes as many as the smallest one, a fresh
  random subset (without replacement) each epoch;
- ``class_weight``: per-example weights ``n / (K · n_class)`` in the cost (as Keras's
  ``class_weight='balanced'``), combined with ``data.sample_weight`` by multiplication;
- ``augment_minority``: augmented copies of the smaller classes' images are added once (on the
  device, before training) until every class matches the largest.

Example:
    >>> import torch
    >>> s = ClassSampler(torch.tensor([0, 0, 0, 1]), 2, "oversample")
    >>> y = torch.tensor([0, 0, 0, 1])[s(torch.Generator().manual_seed(0))]
    >>> torch.bincount(y).tolist()
    [3, 3]
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from knobwise.config import AugmentConfig, BalanceConfig
from knobwise.data._augment import AugmentPipeline
from knobwise.data._normalize import Normalizer
from knobwise.data._prepared import SplitData

__all__ = ["ClassSampler", "balanced_weights", "augment_minority", "MINORITY_AUGMENT"]

#: What ``augment_minority`` does when neither ``data.balance.augment`` nor ``data.augment`` is set.
MINORITY_AUGMENT = AugmentConfig(
    rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1
)


class ClassSampler:
    """The per-epoch index set of ``oversample`` / ``undersample``, drawn on ``y``'s device.

    ``sampler(generator)`` returns ``size`` positions into the training split, unordered (the
    trainer shuffles them into batches).
    """

    def __init__(self, y: torch.Tensor, num_classes: int, method: str) -> None:
        if method not in ("oversample", "undersample"):
            raise ValueError(f"method must be oversample or undersample, got {method!r}")
        self.method = method
        self.device = y.device
        counts = torch.bincount(y, minlength=num_classes).tolist()
        present = [c for c in counts if c > 0]
        self.per_class = max(present) if method == "oversample" else min(present)
        order = torch.argsort(y, stable=True)
        # Positions grouped by class: class k owns order[starts[k] : starts[k] + counts[k]].
        self._order = order
        self._counts = torch.tensor([c for c in counts if c > 0], device=y.device)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._starts = torch.tensor(
            [int(s) for s, c in zip(starts, counts, strict=True) if c > 0], device=y.device
        )
        self.size = self.per_class * len(present)
        self._big = max(present)  # kept on the host: reading it from the device each epoch would sync

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        k, m, dev = len(self._counts), self.per_class, self.device
        counts = self._counts.view(k, 1)
        if self.method == "oversample":
            # Each class: all its examples once, then uniform repeats to reach m.
            j = torch.arange(m, device=dev).view(1, m)
            extra = (torch.rand(k, m, generator=generator, device=dev) * counts).long()
            local = torch.where(j < counts, j.expand(k, m), extra)
        else:
            # A random subset of m per class: the m smallest of random keys among the class's slots.
            big = self._big
            keys = torch.rand(k, big, generator=generator, device=dev)
            keys = keys.masked_fill(torch.arange(big, device=dev).view(1, big) >= counts, 2.0)
            local = torch.argsort(keys, dim=1)[:, :m]
        return self._order[(self._starts.view(k, 1) + local).reshape(-1)]


def balanced_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-example weights ``n / (K · n_class)`` (every class weighs the same in total).

    >>> [round(v, 4) for v in balanced_weights(torch.tensor([0, 0, 0, 1]), 2).tolist()]
    [0.6667, 0.6667, 0.6667, 2.0]
    """
    counts = torch.bincount(y, minlength=num_classes).float()
    k = int((counts > 0).sum())
    return (len(y) / (k * counts.clamp_min(1)))[y]


def augment_minority(
    split: SplitData,
    cfg: BalanceConfig,
    fallback: AugmentConfig | None,
    normalizer: Normalizer,
    num_classes: int,
    seed: int,
) -> tuple[SplitData, str]:
    """Add augmented copies of the smaller classes until every class matches the largest."""
    aug_cfg = cfg.augment or fallback or MINORITY_AUGMENT
    if aug_cfg.mixes:
        aug_cfg = aug_cfg.model_copy(update={"mixup": None, "cutmix": None})  # copies keep their label
    y = split.y
    counts = torch.bincount(y, minlength=num_classes)
    target = int(counts.max())
    g = torch.Generator(device=y.device).manual_seed((seed * 6_007 + 15_485_863) % (2**63 - 1))
    # Which examples to copy: for class k, (target - n_k) draws (cycling through its examples in a
    # random order, so each is copied about equally often).
    picks = []
    for k in range(num_classes):
        n_k = int(counts[k])
        if n_k == 0 or n_k == target:
            continue
        members = torch.nonzero(y == k).view(-1)
        order = members[torch.randperm(n_k, generator=g, device=y.device)]
        picks.append(order.repeat((target - n_k) // n_k + 1)[: target - n_k])
    if not picks:
        return split, "data.balance augment_minority: classes already balanced, nothing added"
    pick = torch.cat(picks)
    xa, _ = AugmentPipeline(aug_cfg, normalizer)(split.x[pick], y[pick], g)
    pos = pick.cpu().numpy()

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.concatenate([a, a[pos]])

    out = dataclasses.replace(
        split,
        x=torch.cat([split.x, xa]),
        y=torch.cat([y, y[pick]]),
        index=np.concatenate([split.index, split.index[pos]]),
        ids=take(split.ids),
        groups=take(split.groups),
        weight=None if split.weight is None else torch.cat([split.weight, split.weight[pick]]),
    )
    return out, f"data.balance augment_minority: added {len(pick)} augmented images, {target} per class"
