"""A trained model with its training normalization in front: it takes images scaled to ``[0, 1]``.

Training normalizes raw pixels as ``(x / pixel_max - shift) / scale`` per channel; ``x / pixel_max``
is the ``[0, 1]`` image that ``predict`` loads, so the wrapper applies ``(x - shift) / scale`` with
the same float32 operations and then the model. ``predict`` runs it and ``export`` exports it, so a
deployed file and ``predict`` agree.

Example:
    >>> import torch
    >>> from knobwise.data import KERAS_EPS, Normalizer
    >>> net = NormalizedModel(torch.nn.Identity(), Normalizer("standardize", [0.5], [0.25]))
    >>> net(torch.full((1, 1, 2, 2), 0.75)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import torch

from knobwise.data import KERAS_EPS, Normalizer
from knobwise.errors import RunError

__all__ = ["NormalizedModel", "normalizer_of", "model_device"]


class NormalizedModel(torch.nn.Module):
    """``model(normalize(x))`` for images ``x`` ``(N, C, H, W)`` in ``[0, 1]``: the per-channel
    ``(x - shift) / scale``, then the fitted Keras preprocessing steps (samplewise centring and
    std normalization, featurewise statistics, ZCA whitening), written out of place so the
    exported graph holds them too."""

    def __init__(self, model: torch.nn.Module, normalizer: Normalizer) -> None:
        super().__init__()
        self.model = model
        shape = (1, normalizer.channels, 1, 1)
        device = model_device(model)
        self.shift: torch.Tensor
        self.scale: torch.Tensor
        for name, values in (("shift", normalizer.shift), ("scale", normalizer.scale)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32, device=device).view(shape))
        self.kinds: list[str] = []
        for i, step in enumerate(normalizer.steps):
            self.kinds.append(step["kind"])
            if step["kind"] == "channel":
                for key in ("mean", "std"):
                    t = torch.tensor(step[key], dtype=torch.float32, device=device).view(shape)
                    self.register_buffer(f"step{i}_{key}", t)
            elif step["kind"] == "zca":
                self.register_buffer(f"step{i}_matrix", step["matrix"].to(device=device, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.shift) / self.scale
        for i, kind in enumerate(self.kinds):
            if kind == "samplewise_center":
                x = x - x.mean(dim=(1, 2, 3), keepdim=True)
            elif kind == "samplewise_std":
                x = x / (x.std(dim=(1, 2, 3), keepdim=True, unbiased=False) + KERAS_EPS)
            elif kind == "channel":
                x = (x - getattr(self, f"step{i}_mean")) / getattr(self, f"step{i}_std")
            elif kind == "zca":
                matrix = getattr(self, f"step{i}_matrix")
                x = (x.reshape(x.shape[0], -1) @ matrix).reshape(x.shape)
        return self.model(x)


def normalizer_of(meta: dict[str, Any]) -> Normalizer:
    """The training normalization recorded in a run's ``model.json`` (``data.normalizer``)."""
    try:
        described = meta["data"]["normalizer"]
    except (KeyError, TypeError) as exc:
        raise RunError(
            "model.json has no data.normalizer (a run from an older knobwise?); retrain it"
        ) from exc
    return Normalizer.from_dict(described)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")
