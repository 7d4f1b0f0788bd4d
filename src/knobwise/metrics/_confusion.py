"""The confusion matrix, computed on the labels' device with a fixed label order.

Rows are the true class, columns the predicted class, both in the order ``0 .. K-1`` whatever
labels occur, so matrices of different splits and runs line up. One ``bincount`` over
``true * K + pred`` builds it without leaving the device; a stack of bootstrap resamples is
counted the same way with one offset per resample.

Example:
    >>> import torch
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 3).tolist()
    [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["confusion_matrix", "as_labels", "batched_confusion"]


def as_labels(values: Any, name: str, num_classes: int, device: torch.device | None = None) -> torch.Tensor:
    """``values`` as a 1-D int64 tensor; a ``ValueError`` naming the labels outside ``0..K-1``.

    >>> as_labels([0, 2], "y_true", 3).tolist()
    [0, 2]
    """
    if isinstance(values, torch.Tensor):
        t = values.detach()
    else:
        arr = np.asarray(values)
        if arr.dtype.kind not in "iub":
            if arr.dtype.kind == "f" and arr.size and np.all(np.equal(np.mod(arr, 1), 0)):
                arr = arr.astype(np.int64)  # 1.0, 2.0 from a CSV are labels; 1.5 is not
            elif arr.size:
                raise ValueError(
                    f"{name}: labels must be integers 0..{num_classes - 1}, got dtype {arr.dtype}"
                )
        t = torch.as_tensor(arr.astype(np.int64, copy=False))
    if t.is_floating_point() or t.is_complex():
        if t.numel() and not bool(torch.all(t == t.round())):
            raise ValueError(f"{name}: labels must be integers 0..{num_classes - 1}, got dtype {t.dtype}")
    t = t.to(torch.int64).reshape(-1)
    if device is not None:
        t = t.to(device)
    if t.numel():
        bad = (t < 0) | (t >= num_classes)
        if bool(bad.any()):
            shown = sorted(set(t[bad].tolist()))
            more = f" (and {len(shown) - 10} more)" if len(shown) > 10 else ""
            raise ValueError(
                f"{name}: labels {shown[:10]}{more} are outside the class range 0..{num_classes - 1}"
            )
    return t


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> torch.Tensor:
    """The ``(K, K)`` int64 confusion matrix on ``y_true``'s device: ``cm[i, j]`` counts true ``i``
    predicted ``j``.

    Labels outside ``0..K-1`` raise a ``ValueError`` that names them.

    >>> import torch
    >>> confusion_matrix(torch.tensor([1, 1]), torch.tensor([1, 0]), 2).tolist()
    [[0, 0], [1, 1]]
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    t = as_labels(y_true, "y_true", num_classes)
    p = as_labels(y_pred, "y_pred", num_classes, device=t.device)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.numel()} labels but y_pred has {p.numel()}")
    flat = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def batched_confusion(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Confusion matrices ``(B, K, K)`` of ``B`` label vectors ``(B, N)`` (already validated).

    >>> import torch
    >>> batched_confusion(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]), 2).tolist()
    [[[1, 0], [0, 1]], [[0, 0], [1, 1]]]
    """
    b = y_true.shape[0]
    kk = num_classes * num_classes
    offset = torch.arange(b, device=y_true.device).unsqueeze(1) * kk
    flat = torch.bincount((offset + y_true * num_classes + y_pred).reshape(-1), minlength=b * kk)
    return flat.reshape(b, num_classes, num_classes)
