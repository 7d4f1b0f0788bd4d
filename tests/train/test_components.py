"""Optimizers, schedules and losses against their textbook definitions and torch/scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import hinge_loss, log_loss

from knobwise.config import EarlyStoppingConfig, LossConfig, OptimizerConfig, ScheduleConfig
from knobwise.errors import ConfigError
from knobwise.train import (
    EarlyStopping,
    create_loss,
    create_optimizer,
    create_schedule,
    list_optimizers,
    list_schedules,
    monitor_mode,
)


def _param() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(1))


@pytest.mark.parametrize("name", list_optimizers())
def test_every_optimizer_steps(name: str) -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = create_optimizer(OptimizerConfig(name=name, lr=0.1), [w])

    def closure() -> torch.Tensor:  # every optimizer accepts one; L-BFGS needs it
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert torch.all(w.abs() < torch.tensor([1.0, 2.0]))


def _stepped(name: str, **options: bool) -> tuple[dict[str, object], list[torch.Tensor]]:
    """Four steps of the registered optimizer ``name`` (``create_optimizer(..., **options)``) on
    two stacked-looking tensors with fixed random gradients: its first group and the results;
    ``foreach`` is set on the group after creation (the per-tensor loop for False)."""
    cfg = OptimizerConfig(name=name, lr=0.05, momentum=0.9 if name in ("sgd", "rmsprop") else 0.0)
    start = [torch.randn(8, 64, 32, generator=torch.Generator().manual_seed(0)), torch.ones(8, 10)]
    params = [torch.nn.Parameter(t.clone()) for t in start]
    foreach = options.pop("foreach", None)
    opt = create_optimizer(cfg, params, **options)
    group = dict(opt.param_groups[0])
    if foreach is not None:
        opt.param_groups[0]["foreach"] = foreach
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return group, params


@pytest.mark.parametrize("name", [n for n in list_optimizers() if n != "lbfgs"])
def test_multi_tensor_update_is_the_per_tensor_loop_bit_for_bit(name: str) -> None:
    group, fast = _stepped(name)
    assert group["foreach"] is True
    _, loop = _stepped(name, foreach=False)
    for a, b in zip(fast, loop, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", [n for n in list_optimizers() if n != "lbfgs"])
def test_fused_update_where_torch_has_one(name: str) -> None:
    """``fused=True`` (a population's stacked optimizer) takes torch's fused kernel for Adam,
    AdamW, SGD and Adagrad, the multi-tensor update for the others; same steps up to rounding."""
    group, fused = _stepped(name, fused=True)
    has_fused = name in ("adam", "adamw", "sgd", "adagrad")
    assert (group.get("fused") is True, group["foreach"]) == (has_fused, not has_fused)
    _, multi = _stepped(name)
    for a, b in zip(fused, multi, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_unknown_optimizer_suggests() -> None:
    with pytest.raises(
        ConfigError, match=r"train\.optimizer\.name: unknown optimizer 'adma'; did you mean 'adam'"
    ):
        create_optimizer(OptimizerConfig(name="adma"), [_param()])


def test_momentum_forms() -> None:
    # v = βv + g (pytorch) vs v = βv + (1−β)g (ema): after two steps with gradient 1 the
    # velocities are 1 + β and (1 − β)(1 + β) respectively... for torch the first ema step is g.
    beta, lr = 0.9, 0.1
    for form, expected_v2 in (("pytorch", 1 + beta), ("ema", beta * 1 + (1 - beta) * 1)):
        w = torch.nn.Parameter(torch.zeros(1))
        opt = create_optimizer(OptimizerConfig(name="sgd", lr=lr, momentum=beta, momentum_form=form), [w])
        for _ in range(2):
            opt.zero_grad()
            w.sum().backward()  # gradient 1
            opt.step()
        v = opt.state[w]["momentum_buffer"].item()
        assert v == pytest.approx(expected_v2)


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ConfigError, match=r"nesterov needs momentum > 0"):
        create_optimizer(OptimizerConfig(name="sgd", lr=0.1, nesterov=True), [_param()])


def test_adam_default_hyperparameters() -> None:
    opt = create_optimizer(OptimizerConfig(name="adam", lr=0.001), [_param()])
    group = opt.param_groups[0]
    assert group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8


def _lrs(cfg: ScheduleConfig, epochs: int = 6, lr: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([_param()], lr=lr)
    sched = create_schedule(cfg, opt, epochs=epochs, steps_per_epoch=1)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step_batch()
        sched.step_epoch({"val_loss": 1.0, "val_accuracy": 0.5})
    return out


def test_schedules_follow_their_formulas() -> None:
    a0 = 1.0
    assert _lrs(ScheduleConfig(name="inverse_time", decay=0.5)) == pytest.approx(
        [a0 / (1 + 0.5 * e) for e in range(6)]
    )
    assert _lrs(ScheduleConfig(name="exponential", decay=0.1)) == pytest.approx(
        [a0 * math.exp(-0.1 * e) for e in range(6)]
    )
    assert _lrs(ScheduleConfig(name="exponential", gamma=0.95)) == pytest.approx([0.95**e for e in range(6)])
    assert _lrs(ScheduleConfig(name="inverse_sqrt", k=2.0)) == pytest.approx(
        [2.0 / math.sqrt(e + 1) for e in range(6)]
    )
    assert _lrs(ScheduleConfig(name="step", step_size=2, gamma=0.5)) == pytest.approx(
        [1, 1, 0.5, 0.5, 0.25, 0.25]
    )
    assert _lrs(ScheduleConfig(name="multistep", milestones=[1, 4], gamma=0.1)) == pytest.approx(
        [1, 0.1, 0.1, 0.1, 0.01, 0.01]
    )
    cos = _lrs(ScheduleConfig(name="cosine", min_lr=0.0), epochs=4)
    assert cos == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    warm = _lrs(ScheduleConfig(name="warmup", warmup_epochs=3))
    assert warm == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_reduce_on_plateau_halves_after_patience() -> None:
    # Keras's rule: a constant monitor stalls from the second epoch on; patience 1 halves every epoch.
    lrs = _lrs(
        ScheduleConfig(name="reduce_on_plateau", monitor="val_accuracy", factor=0.5, patience=1), epochs=6
    )
    assert lrs == pytest.approx([1, 1, 0.5, 0.25, 0.125, 0.0625])


def test_one_cycle_steps_per_batch() -> None:
    opt = torch.optim.SGD([_param()], lr=0.1)
    sched = create_schedule(ScheduleConfig(name="one_cycle", max_lr=1.0), opt, epochs=2, steps_per_epoch=5)
    seen = []
    for _ in range(10):
        opt.step()
        sched.step_batch()
        seen.append(opt.param_groups[0]["lr"])
    assert max(seen) == pytest.approx(1.0, rel=0.05) and seen[-1] < 0.1


def test_schedule_errors() -> None:
    opt = torch.optim.SGD([_param()], lr=1.0)
    with pytest.raises(ConfigError, match=r"train\.schedule\.step_size is required"):
        create_schedule(ScheduleConfig(name="step"), opt, 3, 1)
    with pytest.raises(ConfigError, match=r"unknown schedule 'cosin'; did you mean 'cosine'"):
        create_schedule(ScheduleConfig(name="cosin"), opt, 3, 1)
    assert "reduce_on_plateau" in list_schedules()


def test_monitor_mode() -> None:
    assert monitor_mode("val_accuracy") == "max"
    assert monitor_mode("val_loss") == "min"
    assert monitor_mode("latency_ms") == "min"
    assert monitor_mode("macro_f1_score") == "max"


def test_cross_entropy_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(50, 4)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 4, 50))
    loss = create_loss(LossConfig(name="cross_entropy"), ["a", "b", "c", "d"])
    probs = F.softmax(logits, 1).numpy()
    assert float(loss(logits, y)) == pytest.approx(log_loss(y.numpy(), probs, labels=range(4)), rel=1e-5)


def test_multiclass_hinge_is_weston_watkins() -> None:
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(40, 3)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 40))
    loss = create_loss(LossConfig(name="multiclass_hinge"), ["a", "b", "c"])
    # Weston-Watkins: the sum over wrong classes (divided by K, as torch's multi-margin loss).
    s = logits.numpy()
    per = np.array(
        [sum(max(0.0, 1 - s[i, y[i]] + s[i, j]) for j in range(3) if j != y[i]) / 3 for i in range(40)]
    )
    assert float(loss(logits, y)) == pytest.approx(per.mean(), rel=1e-5)
    alias = create_loss(LossConfig(name="weston_watkins_hinge"), ["a", "b", "c"])
    assert float(alias(logits, y)) == pytest.approx(per.mean(), rel=1e-5)
    # With one wrong class (binary), it is scikit-learn's hinge loss over K = 2.
    b = create_loss(LossConfig(name="multiclass_hinge"), ["a", "b"])
    two = torch.tensor(rng.normal(size=(30, 2)), dtype=torch.float32)
    yb = torch.tensor(rng.integers(0, 2, 30))
    margin = (two[:, 1] - two[:, 0]).numpy()  # the binary decision function
    expected = hinge_loss(yb.numpy(), margin) / 2
    assert float(b(two, yb)) == pytest.approx(expected, rel=1e-5)


def test_crammer_singer_hinge_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    logits = torch.tensor(rng.normal(size=(50, 4)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 4, 50))
    loss = create_loss(LossConfig(name="crammer_singer_hinge"), ["a", "b", "c", "d"])
    # scikit-learn's multiclass hinge_loss is Crammer-Singer: max(0, 1 - s_y + max_{j != y} s_j).
    expected = hinge_loss(y.numpy(), logits.numpy(), labels=[0, 1, 2, 3])
    assert float(loss(logits, y)) == pytest.approx(expected, rel=1e-5)
    ww = create_loss(LossConfig(name="multiclass_hinge"), ["a", "b", "c", "d"])
    assert float(ww(logits, y)) != pytest.approx(expected, rel=1e-3)  # the two are different losses
    with pytest.raises(ConfigError, match="crammer_singer_hinge needs hard labels"):
        loss(logits, torch.full((50, 4), 0.25))


def test_class_and_sample_weights_follow_the_formula() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    per = F.cross_entropy(logits, y, reduction="none")
    loss = create_loss(LossConfig(class_weight=[1.0, 3.0]), ["a", "b"])
    w = torch.tensor([1.0, 3.0, 3.0])
    assert float(loss(logits, y)) == pytest.approx(float((w * per).sum() / w.sum()))
    s = torch.tensor([0.5, 1.0, 2.0])
    assert float(loss(logits, y, s)) == pytest.approx(float((w * s * per).sum() / (w * s).sum()))
    torch_ref = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0]))(logits, y)
    assert float(loss(logits, y)) == pytest.approx(float(torch_ref))
    balanced = create_loss(LossConfig(class_weight="balanced"), ["a", "b"], counts=[30, 10])
    assert balanced.weight is not None
    assert balanced.weight.tolist() == pytest.approx([40 / 60, 40 / 20])


def test_class_weight_errors() -> None:
    with pytest.raises(ConfigError, match=r"class_weight must have 2 entries"):
        create_loss(LossConfig(class_weight=[1.0]), ["a", "b"])
    with pytest.raises(ConfigError, match=r"unknown class 'z'"):
        create_loss(LossConfig(class_weight={"z": 2.0}), ["a", "b"])
    with pytest.raises(ConfigError, match=r"unknown loss 'hinge'; did you mean"):
        create_loss(LossConfig(name="hinge"), ["a", "b"])


def test_binary_cross_entropy_is_one_vs_rest() -> None:
    logits = torch.tensor([[0.0, 0.0]])
    loss = create_loss(LossConfig(name="binary_cross_entropy"), ["a", "b"])
    assert float(loss(logits, torch.tensor([0]))) == pytest.approx(math.log(2))


def test_early_stopping_patience_and_mode() -> None:
    es = EarlyStopping(
        EarlyStoppingConfig(monitor="val_accuracy", patience=2, min_delta=0.01, restore_best=False)
    )
    assert es.mode == "max"
    assert es.improved(0.5) and not es.improved(0.505) and es.improved(0.52)
