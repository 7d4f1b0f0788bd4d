"""Choosing the device, precision and the CUDA speed settings.

Example:
    >>> resolve_device("cpu").type
    'cpu'
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

from knobwise.config import TrainConfig
from knobwise.errors import ConfigError

__all__ = ["resolve_device", "autocast_dtype", "autocast", "configure_backends", "use_channels_last"]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable device is a :class:`ConfigError`."""
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
    return torch.device(name)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 on CUDA by default (where supported), none on CPU unless asked."""
    if cfg.precision == "fp32":
        return None
    if cfg.precision == "bf16":
        return torch.bfloat16
    if cfg.precision == "fp16":
        if device.type != "cuda":
            raise ConfigError(
                f"train.precision: fp16 needs cuda, got device {device.type} (use bf16 or fp32)"
            )
        return torch.float16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """An autocast context for ``dtype`` on ``device`` (a no-op for fp32)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def use_channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    """channels_last is on by default on CUDA (tensor cores prefer NHWC), off elsewhere."""
    return cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"


def configure_backends(cfg: TrainConfig, device: torch.device) -> None:
    """Threads, determinism and cudnn autotuning."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
