"""Population training: member k against a standalone Trainer with the same seed and settings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch.func import stack_module_state

from knobwise.config import ExperimentConfig, load_config
from knobwise.data import PreparedData, prepare_data
from knobwise.models import build_model
from knobwise.train import PopulationTrainer, Trainer, batch_blocker, predict_logits
from knobwise.train._grouped import grouped_forward, grouped_plan, leaf_modules


def _trainer(cfg: ExperimentConfig, data: PreparedData, seed: int) -> Trainer:
    torch.manual_seed(seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    return Trainer(model, data, cfg.train, seed=seed, quiet=True)


def _setup(overrides: Sequence[str]) -> tuple[list[ExperimentConfig], PreparedData]:
    cfg = load_config(None, list(overrides))
    return [cfg], prepare_data(cfg.data, seed=cfg.seed)


def _all_x(data: PreparedData) -> tuple[torch.Tensor, torch.Tensor]:
    splits = [s for s in data.splits.values() if len(s)]
    return torch.cat([s.x for s in splits]), torch.cat([s.y for s in splits])


def test_members_match_standalone_runs_with_the_same_seed() -> None:
    """The digits CNN (convolutions, max-pool, dropout) with Adam and a cosine schedule: every
    member agrees with its standalone run on >= 99.5% of all 600 examples, and the accuracies
    are within 0.2 points. (Bitwise identity is not reachable: the grouped kernels add in another
    order; the sequential path below is identical.)"""
    (cfg,), data = _setup(["train.epochs=2", "data.limit=600"])
    seeds = [0, 1]
    population = PopulationTrainer([_trainer(cfg, data, s) for s in seeds])
    assert population.batched and population.grouped and population.stacked_opt is not None
    population.fit()
    x, y = _all_x(data)
    for k, seed in enumerate(seeds):
        solo = _trainer(cfg, data, seed)
        solo.fit()
        a = predict_logits(population.members[k].model, x).argmax(1)
        b = predict_logits(solo.model, x).argmax(1)
        agree = (a == b).float().mean().item()
        acc_a, acc_b = (a == y).float().mean().item(), (b == y).float().mean().item()
        assert agree >= 0.995, (k, agree)
        assert abs(acc_a - acc_b) <= 0.002, (k, acc_a, acc_b)
        assert [h["epoch"] for h in population.members[k].history] == [1, 2]
        assert population.members[k].history[-1]["lr"] == pytest.approx(solo.history[-1]["lr"])


def test_a_population_of_one_is_a_standalone_run_bit_for_bit() -> None:
    (cfg,), data = _setup(["train.epochs=1", "data.limit=300"])
    population = PopulationTrainer([_trainer(cfg, data, 5)])
    assert not population.batched and population.blocker == "one member trains as a standalone run"
    population.fit()
    solo = _trainer(cfg, data, 5)
    solo.fit()
    for a, b in zip(population.members[0].model.parameters(), solo.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_sequential_path_is_identical_to_standalone_runs() -> None:
    (cfg,), data = _setup(["train.epochs=1", "data.limit=300"])
    population = PopulationTrainer([_trainer(cfg, data, s) for s in (3, 4)], batched=False)
    assert not population.batched
    population.fit()
    for k, seed in enumerate((3, 4)):
        solo = _trainer(cfg, data, seed)
        solo.fit()
        for (name, p), q in zip(
            population.members[k].model.state_dict().items(), solo.model.state_dict().values(), strict=True
        ):
            assert torch.equal(p, q), name


@pytest.mark.parametrize("second", ["train.optimizer.lr=0.01", "train.optimizer.momentum=0.5"])
def test_per_member_hyperparameters(second: str) -> None:
    """A tuned learning rate rides on one stacked optimizer (each step scaled by the member's
    rate); another momentum gives each member its own optimizer. Both match standalone runs."""
    base = ["model.name=mlp", "train.epochs=1", "data.limit=300", "train.optimizer.name=sgd"]
    base += ["train.optimizer.lr=0.05", "train.optimizer.momentum=0.9", "train.batch_size=16"]
    cfg_a = load_config(None, base)
    cfg_b = load_config(None, [*base, second])
    data = prepare_data(cfg_a.data, seed=0)
    population = PopulationTrainer([_trainer(cfg_a, data, 0), _trainer(cfg_b, data, 1)])
    assert population.batched
    assert (population.stacked_opt is not None) == second.startswith("train.optimizer.lr")
    population.fit()
    for k, (cfg, seed) in enumerate(((cfg_a, 0), (cfg_b, 1))):
        solo = _trainer(cfg, data, seed)
        solo.fit()
        for p, q in zip(population.members[k].model.parameters(), solo.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=2e-5, rtol=1e-4)


def test_a_stopped_member_stops_updating() -> None:
    """Members with 1 and 3 epochs: the first keeps its epoch-1 weights while the other trains on."""
    (cfg,), data = _setup(["train.epochs=3", "data.limit=300", "model.name=mlp"])
    short = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1})})
    population = PopulationTrainer([_trainer(short, data, 5), _trainer(cfg, data, 6)])
    population.fit()
    assert [len(t.history) for t in population.members] == [1, 3]
    solo = _trainer(short, data, 5)
    solo.fit()
    for p, q in zip(population.members[0].model.parameters(), solo.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=2e-5, rtol=1e-4)


def test_grouped_forward_runs_relu_after_max_pooling_with_the_same_values_and_gradients() -> None:
    """The digits CNN's ReLU before its max-pooling runs after it in the grouped forward (over a
    quarter of the elements): every member's logits and gradients are its own model's."""
    models = [build_model(load_config(None, []).model, (1, 8, 8), 10) for _ in range(3)]
    plan = grouped_plan(leaf_modules(models[0]))
    kinds = [type(m).__name__ for _, m in plan]
    assert kinds[kinds.index("MaxPool2d") + 1] == "ReLU" != kinds[kinds.index("MaxPool2d") - 1]
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    x = torch.randn(3, 16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = grouped_forward(models[0], params, buffers, x, {}, training=False, parts=plan)
    out.square().sum().backward()
    for k, model in enumerate(models):
        model.eval()
        mine = model(x[k])
        torch.testing.assert_close(out[k], mine, atol=1e-5, rtol=1e-4)
        mine.square().sum().backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(params[name].grad[k], p.grad, atol=1e-4, rtol=1e-4, msg=name)  # type: ignore[index]


def test_batch_norm_members_in_the_grouped_forward() -> None:
    layers = [
        {"conv2d": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
        {"batchnorm": {}},
        "flatten",
        {"dense": {"units": 16}},
        {"batchnorm": {}},
        {"activation": {"name": "relu"}},
        {"dense": {"units": 10}},
    ]
    # SGD: Adam would turn the rounding noise of gradients that are zero in exact arithmetic (a
    # bias in front of batch norm) into full-size steps, in a standalone run as much as here.
    cfg = load_config(
        None, ["train.epochs=1", "data.limit=300", "train.optimizer.name=sgd", "train.optimizer.lr=0.05"]
    )
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": None, "layers": layers})})
    data = prepare_data(cfg.data, seed=0)
    population = PopulationTrainer([_trainer(cfg, data, s) for s in (0, 1)])
    assert population.grouped
    population.fit()
    solo = _trainer(cfg, data, 1)
    solo.fit()
    for (name, p), q in zip(
        population.members[1].model.state_dict().items(), solo.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(p.float(), q.float(), atol=1e-4, rtol=1e-3, msg=name)


def test_different_architectures_fall_back_to_one_after_another() -> None:
    (cfg,), data = _setup(["train.epochs=1", "data.limit=300"])
    other = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": "mlp"})})
    trainers = [_trainer(cfg, data, 0), _trainer(other, data, 1)]
    assert batch_blocker(trainers) == "member 1 has a different architecture than member 0"
    lines: list[str] = []
    population = PopulationTrainer(trainers, log=lines.append)
    population.fit()
    assert not population.batched and "one member after another" in lines[0]
    assert [len(t.history) for t in population.members] == [1, 1]


@pytest.mark.parametrize("grouped", [True, False])
def test_dropout_masks_match_standalone_in_both_forwards(grouped: bool) -> None:
    """Dropout drawn per member as the standalone step draws it, in the grouped forward and in
    vmap of functional_call (the path for layers without a grouped form)."""
    (cfg,), data = _setup(["train.epochs=1", "data.limit=300", "model.name=mlp", "model.options.dropout=0.5"])
    population = PopulationTrainer([_trainer(cfg, data, s) for s in (7, 8)])
    population.grouped = grouped
    population.fit()
    for k, seed in enumerate((7, 8)):
        solo = _trainer(cfg, data, seed)
        solo.fit()
        for p, q in zip(population.members[k].model.parameters(), solo.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=2e-5, rtol=1e-4)
