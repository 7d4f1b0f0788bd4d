"""Device-resident mini-batches: index slices of a per-epoch permutation (no DataLoader)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["epoch_batches", "num_batches"]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :func:`epoch_batches` yields.

    >>> num_batches(10, 4), num_batches(10, 4, drop_last=True), num_batches(3, 100)
    (3, 2, 1)
    """
    bs = min(batch_size, n)
    if n == 0:
        return 0
    return n // bs if drop_last else -(-n // bs)


def epoch_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[torch.Tensor]:
    """Yield ``int64`` index tensors on ``device`` covering ``range(n)`` once.

    The permutation is drawn on the device with ``generator`` (which must live on the same device).
    A ``batch_size`` above ``n`` gives one batch of ``n``; ``drop_last`` drops a short final batch.

    >>> g = torch.Generator().manual_seed(0)
    >>> [len(b) for b in epoch_batches(10, 4, g)]
    [4, 4, 2]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n == 0:
        return
    device = torch.device(device)
    if shuffle:
        order = torch.randperm(n, generator=generator, device=device)
    else:
        order = torch.arange(n, device=device)
    bs = min(batch_size, n)
    stop = n - n % bs if drop_last else n
    for start in range(0, stop, bs):
        yield order[start : start + bs]
