"""Per-split loss, accuracy and error from logits, and the full family on top of them.

Example:
    >>> import torch
    >>> m = split_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    >>> m["accuracy"], m["error"]
    (0.5, 50.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from knobwise.metrics._family import classification_metrics

__all__ = ["split_metrics", "logits_metrics"]


def split_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """``{"n", "loss", "accuracy", "error"}`` for one split; error is in percent.

    Accuracy is the exact fraction correct/n (float64), so it matches the confusion matrix's.
    """
    n = int(y.numel())
    if n == 0:
        return {"n": 0, "loss": None, "accuracy": None, "error": None}
    loss = F.cross_entropy(logits.float(), y)
    correct = (logits.argmax(1) == y).sum()
    loss_v, correct_v = torch.stack([loss.double(), correct.double()]).tolist()  # one host sync
    acc = correct_v / n
    return {"n": n, "loss": loss_v, "accuracy": acc, "error": 100.0 * (1.0 - acc)}


def logits_metrics(
    logits: torch.Tensor, y: torch.Tensor, classes: Sequence[str], **kwargs: Any
) -> dict[str, Any]:
    """The per-split dict of ``metrics.json``: :func:`split_metrics` (loss from the logits) and
    :func:`~knobwise.metrics.classification_metrics` of ``argmax`` predictions and softmax
    probabilities; ``kwargs`` go to the latter (``betas``, ``ci``, ...).

    >>> import torch
    >>> m = logits_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1]), ["a", "b"])
    >>> m["accuracy"], m["macro"]["f1"], sorted(m)[:4]
    (1.0, 1.0, ['accuracy', 'binary', 'classes', 'confidence'])
    """
    base = split_metrics(logits, y)
    family = classification_metrics(y, logits.argmax(1), classes, torch.softmax(logits.float(), 1), **kwargs)
    family.pop("loss", None)  # the loss from the logits is the one training reports
    return {**base, **{k: v for k, v in family.items() if k not in base}}
