"""Offline expansion of the training split, built on the device once.

``data.expand: {shifts: 1}`` is the classic MNIST expansion: every training image plus its four
copies shifted one pixel up, down, left and right, the uncovered row or column filled with the
background (raw pixel value 0, mapped through the normalizer) — 50k images become 250k.
``data.expand: {copies: k, augment: {...}}`` adds ``k`` copies made by the augmentation pipeline,
drawn from a generator seeded by the experiment seed (so ``evaluate`` rebuilds the same set).
Both may be combined. Dev, train-dev and test are never expanded.

Example:
    >>> from knobwise.config import DataConfig, ExpandConfig
    >>> from knobwise.data import prepare_data
    >>> data = prepare_data(DataConfig(dataset="digits", limit=100, expand={"shifts": 1}), seed=0)
    >>> len(data.splits["train"])
    400
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from knobwise.config import ExpandConfig
from knobwise.data._augment import AugmentPipeline, fill_values
from knobwise.data._normalize import Normalizer
from knobwise.data._prepared import SplitData

__all__ = ["expand_split", "shift_copies", "replicate_split", "augmented_copies", "mib"]

_CHUNK = 8192  # images augmented at once: bounds the peak memory of the grid


def mib(t: torch.Tensor) -> float:
    """Size of a tensor in MiB."""
    return t.numel() * t.element_size() / 2**20


def shift_copies(x: torch.Tensor, pixels: int, fill: torch.Tensor) -> torch.Tensor:
    """The 4 copies of ``x`` shifted by ``pixels`` right, left, down and up (constant ``fill``),
    concatenated in that order: ``(4N, C, H, W)``.

    >>> x = torch.zeros(1, 1, 3, 3); x[0, 0, 1, 1] = 1
    >>> [tuple(int(v) for v in (c[0] == 1).nonzero()[0]) for c in shift_copies(x, 1, torch.zeros(1, 1, 1, 1))]
    [(1, 2), (1, 0), (2, 1), (0, 1)]
    """
    n, c, h, w = x.shape
    out = fill.expand(4 * n, c, h, w).clone()
    p = pixels
    out[0 * n : 1 * n, :, :, p:] = x[..., : w - p]  # right
    out[1 * n : 2 * n, :, :, : w - p] = x[..., p:]  # left
    out[2 * n : 3 * n, :, p:, :] = x[:, :, : h - p]  # down
    out[3 * n : 4 * n, :, : h - p, :] = x[:, :, p:]  # up
    return out


def replicate_split(split: SplitData, x_new: torch.Tensor, copies: int) -> SplitData:
    """``split`` followed by ``copies`` new blocks of images ``x_new`` (same examples, in order):
    labels, pool positions, ids, source tags and weights are repeated for each block."""

    def rep(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.concatenate([a] * (copies + 1))

    weight = None if split.weight is None else split.weight.repeat(copies + 1)
    return dataclasses.replace(
        split,
        x=torch.cat([split.x, x_new]),
        y=split.y.repeat(copies + 1),
        index=np.concatenate([split.index] * (copies + 1)),
        ids=rep(split.ids),
        groups=rep(split.groups),
        weight=weight,
    )


def augmented_copies(
    x: torch.Tensor, y: torch.Tensor, pipeline: AugmentPipeline, copies: int, generator: torch.Generator
) -> torch.Tensor:
    """``copies`` augmented versions of every image, block after block, in chunks."""
    blocks = []
    for _ in range(copies):
        for start in range(0, len(x), _CHUNK):
            xa, _ = pipeline(x[start : start + _CHUNK], y[start : start + _CHUNK], generator)
            blocks.append(xa)
    return torch.cat(blocks) if blocks else x[:0]


def expand_split(
    split: SplitData, cfg: ExpandConfig, normalizer: Normalizer, seed: int
) -> tuple[SplitData, str]:
    """The expanded training split and a log line with its size and memory on the device."""
    x, y = split.x, split.y
    before = len(split)
    blocks, what = [], []
    if cfg.shifts:
        fill = fill_values(normalizer, 0.0, x.shape[1], x.device)
        blocks.append(shift_copies(x, cfg.shifts, fill))
        what.append(f"4 copies shifted {cfg.shifts} px")
    if cfg.copies:
        assert cfg.augment is not None  # the config requires it
        g = torch.Generator(device=x.device).manual_seed((seed * 7_919 + 104_723) % (2**63 - 1))
        pipeline = AugmentPipeline(cfg.augment, normalizer)
        blocks.append(augmented_copies(x, y, pipeline, cfg.copies, g))
        what.append(f"{cfg.copies} augmented copies")
    new = torch.cat(blocks)
    out = replicate_split(split, new, len(new) // before)
    line = (
        f"data.expand: train {before} -> {len(out)} examples ({' + '.join(what)}); "
        f"images {mib(split.x):.1f} -> {mib(out.x):.1f} MiB on {x.device}"
    )
    return out, line
