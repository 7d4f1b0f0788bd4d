"""Gradient health: per-layer norms recorded by the trainer, vanishing/exploding flags, clipping."""

from __future__ import annotations

import math

import torch

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.diagnose import diagnose_gradients, gradient_table
from knobwise.models import build_from_layers
from knobwise.train import Trainer

DEEP = [
    "flatten",
    *[{"dense": {"units": 32, "activation": "sigmoid"}} for _ in range(8)],
    {"dense": {"units": 10}},
]
RELU = [
    "flatten",
    *[{"dense": {"units": 32, "activation": "relu"}} for _ in range(3)],
    {"dense": {"units": 10}},
]


def _fit(layers: list, overrides: list[str], init: str | None = None) -> list[dict]:
    cfg = load_config(None, ["data.limit=400", "train.epochs=2", "train.schedule=null", *overrides])
    data = prepare_data(cfg.data, seed=0)
    torch.manual_seed(0)
    model = build_from_layers(layers, data.input_shape, init)
    return Trainer(model, data, cfg.train, quiet=True).fit()


def test_deep_sigmoid_net_has_vanishing_gradients_and_a_relu_net_does_not() -> None:
    history = _fit(DEEP, ["train.optimizer.name=sgd", "train.optimizer.lr=0.1"])
    layers, table = gradient_table(history)
    assert layers[0] == "dense_1" and len(layers) == 9 and table.shape == (2, 9)
    found = diagnose_gradients(history)
    assert [f.problem for f in found] == ["vanishing_gradients"]
    assert found[0].layers == ["dense_1"]
    assert any("relu" in k.setting for k in found[0].knobs)
    assert any("he_normal" in k.setting for k in found[0].knobs)
    assert diagnose_gradients(_fit(RELU, [], init="he_normal")) == []


def test_grad_stats_off_records_nothing() -> None:
    history = _fit(RELU, ["train.grad_stats=false", "train.epochs=1"])
    assert not [k for k in history[0] if k.startswith("grad_norm/")]
    assert diagnose_gradients(history) == []


def test_exploding_gradients_from_recorded_norms() -> None:
    rows = [
        {"epoch": 1, "grad_norm/a": 1.0, "grad_norm/b": 2.0},
        {"epoch": 2, "grad_norm/a": math.inf, "grad_norm/b": 3.0},
    ]
    found = diagnose_gradients(rows)
    assert found[0].problem == "exploding_gradients" and found[0].epoch == 2 and found[0].layers == ["a"]
    assert found[0].knobs[0].setting == "train.clip_grad_norm: 1.0"
    big = [{"grad_norm/a": 5e3, "grad_norm/b": 1.0}]
    assert diagnose_gradients(big)[0].problem == "exploding_gradients"
    growing = [{"grad_norm/a": v, "grad_norm/b": v} for v in (0.1, 3.0, 50.0)]
    assert "grew" in diagnose_gradients(growing)[0].detail
    cfg = {"train": {"clip_grad_norm": 1.0}}
    assert "clip" not in diagnose_gradients(rows, config=cfg)[0].knobs[0].setting


def test_clip_grad_norm_bounds_every_step() -> None:
    """With SGD (lr 1, no momentum) each step moves the weights by at most lr * clip."""
    cfg = load_config(
        None,
        [
            "data.limit=300",
            "train.epochs=1",
            "train.batch_size=64",
            "train.optimizer.name=sgd",
            "train.optimizer.lr=1.0",
            "train.schedule=null",
            "train.clip_grad_norm=0.001",
        ],
    )
    data = prepare_data(cfg.data, seed=0)
    torch.manual_seed(0)
    model = build_from_layers(RELU, data.input_shape, None)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer = Trainer(model, data, cfg.train, quiet=True)
    trainer.fit()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < float((after - before).norm()) <= trainer.steps_per_epoch * 1.0 * 0.001 * (1 + 1e-4)
