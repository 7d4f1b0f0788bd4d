"""What the first layer learned: its convolution filters, and what they respond to in one image.

Example:
    >>> import torch
    >>> from knobwise.models import build_from_layers
    >>> model = build_from_layers([{"conv2d": {"filters": 6, "kernel_size": 3}}, "flatten",
    ...                            {"dense": {"units": 2}}], (1, 8, 8))
    >>> first_filters(model)[1].shape
    (6, 1, 3, 3)
    >>> feature_maps(model, torch.zeros(1, 1, 8, 8)).shape
    (6, 6, 6)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from knobwise.errors import ConfigError

__all__ = ["first_filters", "feature_maps"]


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    raise ConfigError(
        "--filters needs a convolutional first layer and this model has none (an MLP); "
        "explain it with saliency, integrated_gradients or occlusion instead"
    )


def first_filters(model: nn.Module) -> tuple[str, np.ndarray]:
    """The first convolution's name and its weights ``(F, C, kh, kw)`` as ``float32``."""
    name, conv = _first_conv(model)
    # A layer-list model names the entry (``conv2d_1``), whose conv is its ``.conv`` part.
    return name.removesuffix(".conv"), conv.weight.detach().float().cpu().numpy()


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The first convolution's output (after its activation when the model is a layer list) for
    one input ``(1, C, H, W)``: ``(F, h, w)``."""
    name, conv = _first_conv(model)
    # A layer-list model keeps conv and activation in one top-level layer: show the activation.
    top = dict(model.named_children()).get(name.split(".")[0]) if "." in name else None
    hooked = top if top is not None else conv
    seen: list[torch.Tensor] = []
    handle = hooked.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        model.eval()
        model(x[:1].to(conv.weight.device))
    finally:
        handle.remove()
    return seen[0][0].float().cpu().numpy()
