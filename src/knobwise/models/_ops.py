"""Torch building blocks the layer vocabulary needs beyond ``torch.nn``: Keras 'same' padding and
activations by name.

Keras (like TensorFlow) pads 'same' layers so that the output has ``ceil(n / s)`` positions and puts
the odd pixel of padding on the bottom/right. PyTorch pads symmetrically, so asymmetric cases get an
explicit pad in front of the op.

Example:
    >>> same_pads(8, 3, 2)
    (0, 1)
    >>> same_pads(7, 3, 1)
    (1, 1)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from knobwise.registry import Registry

__all__ = ["ACTIVATIONS", "MaxPoolSame", "AvgPoolSame", "make_activation", "same_pads", "same_size"]

#: Activations by their YAML name; each entry is a zero-argument module factory.
ACTIVATIONS: Registry = Registry("activation", key="activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("sigmoid")(nn.Sigmoid)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("elu")(nn.ELU)
ACTIVATIONS.register("selu")(nn.SELU)
ACTIVATIONS.register("gelu")(nn.GELU)
ACTIVATIONS.register("swish", "silu")(nn.SiLU)
ACTIVATIONS.register("linear", "none")(nn.Identity)


@ACTIVATIONS.register("leaky_relu")
def _leaky_relu() -> nn.Module:
    # keras.activations.leaky_relu's default slope (Keras 3), not PyTorch's 0.01.
    return nn.LeakyReLU(0.2)


def make_activation(name: str | None) -> nn.Module:
    """The activation module called ``name``; ``None`` is the identity (Keras 'linear')."""
    return nn.Identity() if name is None else ACTIVATIONS.create(name)


def same_size(n: int, stride: int) -> int:
    """Output size of a Keras 'same' layer along one side: ``ceil(n / stride)``."""
    return math.ceil(n / stride)


def same_pads(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of a Keras 'same' layer along one side; the extra pixel goes after."""
    total = max((same_size(n, stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


class _PoolSame(nn.Module):
    """Base of the 'same' pools: explicit (left, right, top, bottom) padding, then a valid pool."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int]):
        super().__init__()
        self.kernel, self.stride, self.pads = kernel, stride, pads

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel}, stride={self.stride}, pads={self.pads}"


class MaxPoolSame(_PoolSame):
    """Keras MaxPooling2D(padding='same'): padded positions never win (they are -inf)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pads, value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class AvgPoolSame(_PoolSame):
    """Keras AveragePooling2D(padding='same'): the mean over the real pixels of each window only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(F.pad(x, self.pads), self.kernel, self.stride)
        ones = x.new_ones((1, 1, x.shape[-2], x.shape[-1]))
        counted = F.avg_pool2d(F.pad(ones, self.pads), self.kernel, self.stride)
        return summed / counted
