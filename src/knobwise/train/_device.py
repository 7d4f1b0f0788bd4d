"""The training config's device settings: precision, channels_last, threads, determinism.

Example:
    >>> from knobwise.config import TrainConfig
    >>> import torch
    >>> autocast_dtype(TrainConfig(), torch.device("cpu")) is None
    True
"""

from __future__ import annotations

import ctypes
import os
import platform

import torch

from knobwise.config import TrainConfig
from knobwise.errors import ConfigError

__all__ = ["autocast_dtype", "configure_backends", "keep_freed_memory", "use_channels_last"]

#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_malloc_tuned: bool | None = None


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
    if device.type == "cpu":
        keep_freed_memory()
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


def keep_freed_memory(mmap_below: int = 64 << 20, trim_above: int = 256 << 20) -> bool:
    """Let glibc's malloc reuse freed blocks below ``mmap_below`` bytes instead of returning them to
    the system (once per process; True when it is in effect).

    A CPU step allocates and frees the same activation and gradient tensors every batch. Above
    glibc's default thresholds (128 KiB, adjusted upwards only as blocks are freed) each is a fresh
    ``mmap`` whose pages the kernel faults in and zeroes again: for a population of 8 digits CNNs
    that was a third of the step. Skipped where malloc is not glibc's, or where the user already
    chose (a ``MALLOC_*_`` variable, ``glibc.malloc`` tunables, or a malloc in ``LD_PRELOAD``).
    The cost: memory freed at the top of the heap, up to ``trim_above`` bytes, stays with the
    process.

    >>> keep_freed_memory() in (True, False)
    True
    """
    global _malloc_tuned
    if _malloc_tuned is None:
        _malloc_tuned = False
        chosen = any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
        chosen = chosen or "malloc" in os.environ.get("LD_PRELOAD", "") + os.environ.get("GLIBC_TUNABLES", "")
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc" and not chosen:
            mallopt = ctypes.CDLL(None).mallopt
            ok = mallopt(_M_MMAP_THRESHOLD, mmap_below) == 1
            _malloc_tuned = ok and mallopt(_M_TRIM_THRESHOLD, trim_above) == 1
    return _malloc_tuned
