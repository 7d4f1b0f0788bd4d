"""Inference over a device-resident split: logits in eval mode, in large batches.

Example:
    >>> import torch
    >>> m = torch.nn.Linear(3, 2)
    >>> predict_logits(m, torch.zeros(5, 3), batch_size=2).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from knobwise.device import autocast

__all__ = ["predict_logits", "loss_and_accuracy"]


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    x: torch.Tensor,
    batch_size: int = 1024,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Logits of ``model`` for every row of ``x`` (float32, on ``x``'s device), in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, x.shape[0], batch_size):
        with autocast(x.device, amp_dtype):
            out.append(model(x[start : start + batch_size]).float())
    model.train(was_training)
    if not out:
        return torch.zeros((0, 0), device=x.device)
    return torch.cat(out)


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy as device tensors (no host synchronization)."""
    if y.numel() == 0:
        nan = torch.tensor(float("nan"), device=y.device)
        return nan, nan
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return loss, acc
