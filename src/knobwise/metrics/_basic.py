"""Per-split loss, accuracy and error: the numbers every run reports.

Example:
    >>> import torch
    >>> m = split_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    >>> m["accuracy"], m["error"]
    (0.5, 50.0)
"""

from __future__ import annotations

from typing import Any

import torch

from knobwise.train import loss_and_accuracy

__all__ = ["split_metrics"]


def split_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """``{"n", "loss", "accuracy", "error"}`` for one split; error is in percent."""
    loss, acc = loss_and_accuracy(logits, y)
    loss_v, acc_v = torch.stack([loss, acc]).tolist()
    return {"n": int(y.numel()), "loss": loss_v, "accuracy": acc_v, "error": 100.0 * (1.0 - acc_v)}
