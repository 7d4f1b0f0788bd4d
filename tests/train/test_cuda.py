"""The CUDA paths: bf16 autocast and channels-last by default, device-resident data with a step
that never waits for the GPU, ``torch.compile``, and populations on the GPU.

Skipped without a CUDA device (the reason is printed with ``-rs``); ``bash bench/gpu.sh`` runs
them on a lent GPU machine together with the GPU benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

import knobwise as kw
from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.models import build_model
from knobwise.train import PopulationTrainer, Trainer, predict_logits

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _trainers(overrides: Sequence[str], seeds: Sequence[int] = (0,)) -> list[Trainer]:
    cfg = load_config(None, ["train.device=cuda", *overrides])
    data = prepare_data(cfg.data, seed=cfg.seed, device=torch.device("cuda"))
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        out.append(Trainer(model, data, cfg.train, seed=seed, quiet=True))
    return out


def test_cuda_defaults_are_bf16_autocast_and_channels_last() -> None:
    (t,) = _trainers(["train.epochs=1"])
    assert t.data.splits["train"].x.is_cuda and t.data.splits["train"].y.is_cuda
    assert t.amp_dtype == torch.bfloat16 and t.channels_last
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_a_training_epoch_never_waits_for_the_gpu() -> None:
    """No host synchronization inside the epoch: CUDA raises on any implicit one in "error" mode
    (``.item()``, a device-to-host copy, ``nonzero``...)."""
    (t,) = _trainers(["train.epochs=2"])
    t.train_epoch(0)  # first-call allocations and cuDNN's autotuning synchronize, once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss, accuracy = t.train_epoch(1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert math.isfinite(loss.item()) and 0.5 < accuracy.item() <= 1.0


def test_the_quickstart_on_cuda_reaches_cpu_accuracy(tmp_path: Path) -> None:
    run = kw.train(overrides={"train.device": "cuda"}, out=tmp_path / "run", quiet=True)
    assert run.metrics["test"]["accuracy"] >= 0.95, run.metrics["test"]


def test_compiled_training_on_cuda(tmp_path: Path) -> None:
    run = kw.train(
        overrides={"train.device": "cuda", "train.compile": True, "train.epochs": 5},
        out=tmp_path / "run",
        quiet=True,
        report=False,
    )
    assert run.metrics["dev"]["accuracy"] >= 0.9, run.metrics["dev"]


def test_population_members_match_standalone_runs_on_cuda() -> None:
    """In fp32 (bf16 rounding would blur the comparison): as on the CPU, >= 99.5% identical
    predictions and accuracies within 0.2 points."""
    overrides = ["train.epochs=2", "train.precision=fp32", "data.limit=600"]
    population = PopulationTrainer(_trainers(overrides, seeds=(0, 1)))
    assert population.batched
    population.fit()
    data = population.members[0].data
    x = torch.cat([s.x for s in data.splits.values() if len(s)])
    y = torch.cat([s.y for s in data.splits.values() if len(s)])
    for k, seed in enumerate((0, 1)):
        (solo,) = _trainers(overrides, seeds=(seed,))
        solo.fit()
        a = predict_logits(population.members[k].model, x).argmax(1)
        b = predict_logits(solo.model, x).argmax(1)
        assert (a == b).float().mean().item() >= 0.995
        assert abs((a == y).float().mean().item() - (b == y).float().mean().item()) <= 0.002


def test_a_bf16_population_trains_on_cuda(tmp_path: Path) -> None:
    run = kw.train(overrides={"train.device": "cuda"}, out=tmp_path / "pop", quiet=True, population=4)
    test = run.metrics["ensemble"]["splits"]["test"]
    assert len(test["members"]) == 4 and min(test["members"]) >= 0.93, test
    assert test["plurality"] >= min(test["members"]), test
