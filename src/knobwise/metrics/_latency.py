"""Classification time: batch-1 latency (median and p95 after warm-up) and large-batch throughput.

Each timed call is bracketed by ``torch.cuda.synchronize()`` on CUDA, so the clock measures the
kernels and not just their launch. The record names what it was measured on (device, torch
version, thread count), because a latency without its machine is not a number one can compare.

Example:
    >>> import torch
    >>> m = torch.nn.Linear(8, 2)
    >>> r = measure_latency(m, torch.zeros(8), runs=20, warmup=2, throughput_batch=16)
    >>> r["batch"], r["runs"], r["median_ms"] > 0
    (1, 20, True)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from knobwise.device import autocast, describe_device, synchronizer

__all__ = ["measure_latency"]


@torch.inference_mode()
def measure_latency(
    model: torch.nn.Module,
    example: torch.Tensor,
    *,
    warmup: int = 20,
    runs: int = 200,
    throughput_batch: int = 256,
    throughput_runs: int = 10,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Time ``model`` on one example (``(C, H, W)`` or ``(1, C, H, W)``, on the model's device).

    Returns ``{"median_ms", "p95_ms", "mean_ms", "min_ms", "runs", "warmup", "batch",
    "throughput_per_s", "throughput_batch", "device", "device_type", "torch_version", "threads"}``.
    """
    if runs < 1 or warmup < 0 or throughput_batch < 1 or throughput_runs < 1:
        raise ValueError("runs, throughput_batch and throughput_runs must be >= 1 and warmup >= 0")
    x = example if example.dim() == 4 else example.unsqueeze(0)
    x = x[:1].contiguous()
    device = x.device
    sync = synchronizer(device)
    was_training = model.training
    model.eval()
    try:
        with autocast(device, amp_dtype):
            for _ in range(warmup):
                model(x)
            sync()
            times = np.empty(runs)
            for i in range(runs):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                times[i] = time.perf_counter() - t0
            big = x.expand(throughput_batch, *x.shape[1:]).contiguous()
            model(big)  # warm-up at this shape (allocator, cudnn algorithm choice)
            sync()
            t0 = time.perf_counter()
            for _ in range(throughput_runs):
                model(big)
            sync()
            total = time.perf_counter() - t0
    finally:
        model.train(was_training)
    ms = times * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "runs": runs,
        "warmup": warmup,
        "batch": 1,
        "throughput_per_s": throughput_batch * throughput_runs / total,
        "throughput_batch": throughput_batch,
        "device": describe_device(device),
        "device_type": device.type,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
    }
