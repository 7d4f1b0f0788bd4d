"""The training config's device settings: precision, channels_last, threads, determinism.

Example:
    >>> from knobwise.config import TrainConfig
    >>> import torch
    >>> autocast_dtype(TrainConfig(), torch.device("cpu")) is None
    True
"""

from __future__ import annotations

import os

import torch

from knobwise.config import TrainConfig
from knobwise.errors import ConfigError

__all__ = ["autocast_dtype", "configure_backends", "use_channels_last"]


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
        # torch.use_deterministic_algorithms imports torch._inductor (seconds on a CPU) even to
        # set the flag it already has: switch it off only when an earlier run switched it on.
        if torch.are_deterministic_algorithms_enabled():
            torch.use_deterministic_algorithms(False)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
