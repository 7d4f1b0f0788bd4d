"""Test-time augmentation: ``evaluate.tta: {flips: true, shifts: 1}``.

Each evaluated image is shown to the model as several views — itself, its horizontal (and/or
vertical) flip, and its copies shifted ``shifts`` pixels right, left, down and up (the uncovered
border filled as ``fill_mode`` says) — and the softmax probabilities of the views are averaged.
:func:`predict_tta` returns ``log`` of the averaged probabilities, which are valid logits (their
softmax is the average), so every metric computed from logits works unchanged.

Example:
    >>> import torch
    >>> from knobwise.config import TTAConfig
    >>> len(list(tta_views(torch.zeros(2, 1, 8, 8), TTAConfig(flips=True, shifts=1))))
    6
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from knobwise.config import TTAConfig
from knobwise.data._augment import affine_matrices, fill_values, warp
from knobwise.data._normalize import Normalizer

__all__ = ["tta_views", "predict_tta"]


def tta_views(
    x: torch.Tensor, cfg: TTAConfig, normalizer: Normalizer | None = None
) -> Iterator[torch.Tensor]:
    """The views of ``x`` (normalized ``(N, C, H, W)``), the unchanged images first."""
    yield x
    if cfg.flips in (True, "horizontal", "both"):
        yield torch.flip(x, dims=(3,))
    if cfg.flips in ("vertical", "both"):
        yield torch.flip(x, dims=(2,))
    if cfg.shifts:
        n, c, h, w = x.shape
        fill = fill_values(normalizer, 0.0, c, x.device)
        z = torch.zeros(n, device=x.device)
        s = float(cfg.shifts)
        for dx, dy in ((s, 0.0), (-s, 0.0), (0.0, s), (0.0, -s)):
            yield warp(x, affine_matrices((h, w), z, z + dx, z + dy), cfg.fill_mode, fill)


@torch.no_grad()
def predict_tta(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    cfg: TTAConfig,
    normalizer: Normalizer | None = None,
    chunk: int = 4096,
) -> torch.Tensor:
    """``log(mean over views of softmax(predict(view)))`` for every image of ``x``.

    ``predict`` maps a batch to logits (for example ``lambda v: predict_logits(model, v)``); the
    views are built ``chunk`` images at a time to bound memory.

    >>> m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> predict_tta(m, torch.rand(5, 1, 8, 8), TTAConfig(flips=True)).exp().sum(1).allclose(torch.ones(5))
    True
    """
    out = []
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk]
        total: torch.Tensor | None = None
        count = 0
        for view in tta_views(xb, cfg, normalizer):
            p = torch.softmax(predict(view).float(), dim=1)
            total = p if total is None else total + p
            count += 1
        assert total is not None
        out.append(torch.log((total / count).clamp_min(1e-30)))
    return torch.cat(out) if out else x.new_zeros((0, 0))
