"""Latency: our batch-1 median agrees with torch.utils.benchmark on the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.benchmark import Timer

from knobwise.metrics import measure_latency

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _mlp(width: int = 1024, depth: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval()


def _agree(device: str) -> None:
    model = _mlp().to(device)
    x = torch.randn(1, 1024, device=device)
    timer = Timer(
        stmt="with torch.inference_mode():\n    model(x)",
        globals={"model": model, "x": x, "torch": torch},
        num_threads=1,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the Timer runs single-threaded; so do we, here
    try:
        ours, theirs = [], []
        # The machine is shared: interleave the two in short turns so both see the same load.
        for _ in range(30):
            r = measure_latency(model, x, warmup=2, runs=15, throughput_batch=2, throughput_runs=1)
            ours.append(r["median_ms"])
            # One call per measurement, so both sides take a median over single calls: a mean over
            # a block would carry the preemptions a busy machine adds.
            theirs.append(float(np.median([timer.timeit(1).median for _ in range(15)])) * 1e3)
    finally:
        torch.set_num_threads(threads)
    ratio = float(np.median(ours) / np.median(theirs))
    assert abs(ratio - 1) <= 0.2, (
        f"ours {np.median(ours):.4f} ms vs torch.utils.benchmark {np.median(theirs):.4f} ms"
    )


def test_median_agrees_with_torch_benchmark_cpu() -> None:
    _agree("cpu")


@pytest.mark.gpu
@cuda
def test_median_agrees_with_torch_benchmark_cuda() -> None:
    _agree("cuda")
    r = measure_latency(_mlp().cuda(), torch.randn(1024, device="cuda"), runs=20, warmup=5)
    assert r["device_type"] == "cuda" and r["device"] == torch.cuda.get_device_name()


def test_record_names_what_it_was_measured_on() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    model.train()
    r = measure_latency(
        model, torch.zeros(1, 8, 8), warmup=2, runs=15, throughput_batch=32, throughput_runs=3
    )
    assert model.training  # the mode is restored
    assert r["runs"] == 15 and r["warmup"] == 2 and r["batch"] == 1 and r["throughput_batch"] == 32
    assert 0 < r["min_ms"] <= r["median_ms"] <= r["p95_ms"]
    assert r["throughput_per_s"] > 0
    assert r["torch_version"] == torch.__version__ and r["threads"] == torch.get_num_threads()
    assert r["device_type"] == "cpu" and r["device"].startswith("cpu")
    with pytest.raises(ValueError, match="runs, throughput_batch and throughput_runs must be >= 1"):
        measure_latency(model, torch.zeros(1, 8, 8), runs=0)
