"""Devices: choosing one, naming it, autocast on it, and waiting for it.

The one home of device helpers; the training loop adds its config-driven settings (precision,
channels_last, determinism) on top in ``knobwise.train``.

Example:
    >>> resolve_device("cpu").type
    'cpu'
    >>> describe_device(resolve_device("cpu")).startswith("cpu (")
    True
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from knobwise.errors import ConfigError

__all__ = ["resolve_device", "describe_device", "autocast", "synchronizer"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable device is a :class:`ConfigError`."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda is not available on this machine (allowed here: cpu, auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("train.device: mps is not available on this machine (allowed here: cpu, auto)")
    if name not in ("cpu", "cuda", "mps") and not str(name).startswith("cuda:"):
        raise ConfigError(f"device must be one of auto, cpu, cuda, cuda:N, mps, got {name!r}")
    return torch.device(name)


def describe_device(device: torch.device, *, threads: bool = False) -> str:
    """A human-readable name: the GPU model, or the CPU (and its thread count with ``threads``)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return (
        f"{device.type} ({cpu}, {torch.get_num_threads()} threads)" if threads else f"{device.type} ({cpu})"
    )


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """An autocast context for ``dtype`` on ``device`` (a no-op for fp32)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for ``device`` to finish its queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None
