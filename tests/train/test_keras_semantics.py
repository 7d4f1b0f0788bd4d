"""Early stopping and reduce_on_plateau follow Keras's rules, epoch for epoch.

Each test feeds a scripted monitor sequence and pins the epochs (1-based) at which training stops
or the learning rate drops. The expected epochs are worked out by hand from the rule of Keras's
``EarlyStopping`` / ``ReduceLROnPlateau``, written next to each case.
"""

from __future__ import annotations

import pytest
import torch

from knobwise.config import EarlyStoppingConfig, ScheduleConfig, TrainConfig, load_config
from knobwise.data import prepare_data
from knobwise.errors import ConfigError
from knobwise.models import build_model
from knobwise.train import EarlyStopping, Trainer, create_loss, create_schedule, predict_logits


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    cfg = load_config(None, ["data.limit=100", "train.epochs=1"])
    data = prepare_data(cfg.data, seed=0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    return Trainer(model, data, cfg.train, seed=0, quiet=True)


def _stop_epoch(trainer: Trainer, cfg: EarlyStoppingConfig, values: list[float]) -> int | None:
    """The 1-based epoch after which early stopping ends training (None: it never does)."""
    es = EarlyStopping(cfg)
    trainer.stop_reason = None
    for epoch, v in enumerate(values):
        es.on_epoch_end(trainer, epoch, {cfg.monitor: v})
        if trainer.stop_reason is not None:
            trainer.stop_reason = None
            return epoch + 1
    return None


@pytest.mark.parametrize(
    ("cfg", "values", "expected"),
    [
        # patience 1: 1.0 and 0.9 improve, 0.95 is the first epoch without improvement -> stop after it.
        (EarlyStoppingConfig(monitor="val_loss", patience=1), [1.0, 0.9, 0.95, 0.8], 3),
        # patience 0 stops at the first non-improving epoch too (Keras: wait >= 0 after wait += 1).
        (EarlyStoppingConfig(monitor="val_loss", patience=0), [1.0, 0.9, 0.95, 0.8], 3),
        # patience 2: 0.95 (wait 1), 0.92 (wait 2) -> stop after epoch 4.
        (EarlyStoppingConfig(monitor="val_loss", patience=2), [1.0, 0.9, 0.95, 0.92, 0.5], 4),
        # min_delta 0.05: 0.96, 0.97, 0.955 are not below 1.0 - 0.05 -> wait 3 = patience after epoch 4.
        (
            EarlyStoppingConfig(monitor="val_loss", patience=3, min_delta=0.05),
            [1.0, 0.96, 0.97, 0.955, 0.5],
            4,
        ),
        # mode max (auto for accuracy): 0.8 then 0.79, 0.8 do not beat 0.8 -> stop after epoch 4.
        (EarlyStoppingConfig(monitor="val_accuracy", patience=2), [0.5, 0.8, 0.79, 0.8, 0.9], 4),
        # explicit mode min on a name that would be maximized.
        (EarlyStoppingConfig(monitor="val_accuracy", mode="min", patience=1), [0.5, 0.4, 0.45], 3),
        # baseline 0.9: improvements below it do not restart the wait: 0.5 (1), 0.6 (2), 0.59 (3) -> stop.
        (EarlyStoppingConfig(monitor="val_accuracy", patience=2, baseline=0.9), [0.5, 0.6, 0.59, 0.95], 3),
        # start_from_epoch 2: the first two epochs are not watched; 3.0 best, 2.5 improves, 2.6 stops.
        (
            EarlyStoppingConfig(monitor="val_loss", patience=1, start_from_epoch=2),
            [1.0, 2.0, 3.0, 2.5, 2.6],
            5,
        ),
        # a NaN never improves: it counts as an epoch without improvement.
        (EarlyStoppingConfig(monitor="val_loss", patience=2), [1.0, float("nan"), float("nan"), 0.1], 3),
        # never stalls for long enough.
        (EarlyStoppingConfig(monitor="val_loss", patience=2), [1.0, 1.1, 0.9, 1.0, 0.8], None),
    ],
)
def test_early_stopping_stops_where_keras_does(
    trainer: Trainer, cfg: EarlyStoppingConfig, values: list[float], expected: int | None
) -> None:
    assert _stop_epoch(trainer, cfg.model_copy(update={"restore_best": False}), values) == expected


def test_restore_best_weights_puts_back_the_best_epoch(trainer: Trainer) -> None:
    cfg = EarlyStoppingConfig.model_validate(
        {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}
    )
    assert cfg.restore_best
    es = EarlyStopping(cfg)
    param = next(trainer.model.parameters())
    for epoch, v in enumerate([1.0, 0.5, 0.7, 0.6]):
        with torch.no_grad():
            param.fill_(float(epoch))  # each epoch's weights carry its number
        es.on_epoch_end(trainer, epoch, {"val_loss": v})
    assert trainer.stop_reason is None  # restored although training was not stopped early (as Keras 3)
    es.on_train_end(trainer)
    assert float(next(trainer.model.parameters()).detach().flatten()[0]) == 1.0  # epoch 2 (index 1) was best


def _plateau_drops(
    cfg: ScheduleConfig, values: list[float], lr: float = 1.0
) -> tuple[list[int], list[float]]:
    """The 1-based epochs after which the rate dropped, and the rate after every epoch."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = create_schedule(cfg, opt, epochs=len(values), steps_per_epoch=1)
    drops, rates = [], []
    for epoch, v in enumerate(values):
        before = opt.param_groups[0]["lr"]
        sched.step_epoch({cfg.monitor: v})
        after = opt.param_groups[0]["lr"]
        rates.append(after)
        if after < before:
            drops.append(epoch + 1)
    return drops, rates


def test_plateau_reduces_where_keras_does() -> None:
    # patience 2, min_delta 0: 0.95 (wait 1), 0.92 (wait 2) -> drop after epoch 4; 0.85 improves;
    # 0.86, 0.87 -> drop after 7; 0.88, 0.89 -> drop after 9. (torch's rule would drop after 8 only.)
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_loss", factor=0.5, patience=2, min_delta=0.0)
    drops, rates = _plateau_drops(cfg, [1.0, 0.9, 0.95, 0.92, 0.85, 0.86, 0.87, 0.88, 0.89])
    assert drops == [4, 7, 9]
    assert rates[-1] == pytest.approx(0.125)


def test_plateau_cooldown() -> None:
    # patience 1, cooldown 2, a flat monitor: drop after 2; epochs 3 and 4 are cooldown (the counter
    # reaches 0 during epoch 4, which then already counts as a bad epoch): drop after 4, 6, 8.
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_loss", factor=0.5, patience=1, cooldown=2)
    drops, _ = _plateau_drops(cfg, [1.0] * 8)
    assert drops == [2, 4, 6, 8]


def test_plateau_min_lr_and_min_delta() -> None:
    # min_lr 0.3: 1 -> 0.5 -> max(0.25, 0.3) = 0.3, then no further drop.
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_loss", factor=0.5, patience=1, min_lr=0.3)
    assert _plateau_drops(cfg, [1.0] * 5)[1] == pytest.approx([1.0, 0.5, 0.3, 0.3, 0.3])
    # Keras's default min_delta 1e-4 is absolute: 0.99995 is not below 1 - 1e-4, so it stalls.
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_loss", patience=1)
    assert _plateau_drops(cfg, [1.0, 0.99995, 0.5])[0] == [2]
    # mode: max for accuracy (auto), or forced.
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_accuracy", patience=1)
    assert _plateau_drops(cfg, [0.5, 0.6, 0.55])[0] == [3]
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_accuracy", mode="min", patience=1)
    assert _plateau_drops(cfg, [0.5, 0.6, 0.55])[0] == [2, 3]  # neither 0.6 nor 0.55 is below 0.5


def test_plateau_state_survives_a_resume() -> None:
    cfg = ScheduleConfig(name="reduce_on_plateau", monitor="val_loss", factor=0.5, patience=2, min_delta=0.0)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = create_schedule(cfg, opt, epochs=4, steps_per_epoch=1)
    for v in [1.0, 1.0]:
        sched.step_epoch({"val_loss": v})
    again = create_schedule(cfg, opt, epochs=4, steps_per_epoch=1)
    again.load_state_dict(sched.state_dict())
    again.step_epoch({"val_loss": 1.0})  # the second epoch in a row without improvement
    assert opt.param_groups[0]["lr"] == 0.5


def test_unknown_early_stopping_key_and_monitor(trainer: Trainer) -> None:
    with pytest.raises(ConfigError, match=r"train\.early_stopping\.patience"):
        load_config(None, ["train.early_stopping={monitor: val_loss, patience: -1}"])
    es = EarlyStopping(EarlyStoppingConfig(monitor="val_f1"))
    with pytest.raises(ConfigError, match=r"train\.early_stopping\.monitor: 'val_f1' is not logged"):
        es.on_epoch_end(trainer, 0, {"val_loss": 1.0})
    assert isinstance(TrainConfig().early_stopping, type(None))


@pytest.mark.parametrize("loss", ["multiclass_hinge", "crammer_singer_hinge", "binary_cross_entropy"])
def test_val_loss_is_the_training_loss(loss: str) -> None:
    cfg = load_config(
        None, ["data.limit=200", "train.epochs=1", f"train.loss={loss}", "train.grad_stats=false"]
    )
    data = prepare_data(cfg.data, seed=0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    trainer = Trainer(model, data, cfg.train, seed=0, quiet=True)
    row = trainer.fit()[0]
    dev = data.splits["dev"]
    logits = predict_logits(model, dev.x)
    expected = create_loss(cfg.train.loss, data.classes)(logits, dev.y)
    ce = torch.nn.functional.cross_entropy(logits, dev.y)
    assert row["val_loss"] == pytest.approx(float(expected), rel=1e-4)
    assert row["val_cross_entropy"] == pytest.approx(float(ce), rel=1e-4)
    plain = Trainer(model, data, load_config(None, ["data.limit=200"]).train, seed=0, quiet=True)
    assert len(plain.validate() or []) == 2  # cross_entropy: val_loss is the cross-entropy, no second column


def test_l2_modes_textbook_and_network3() -> None:
    """per_example: λ/(2n) Σw² (n training examples); per_batch: network3.py's 0.5·λ·Σw² / (number
    of mini-batches per epoch), batch_size times stronger."""
    base = ["data.limit=200", "train.batch_size=10", "train.l2=0.1", "train.grad_stats=false"]
    coefs = {}
    for mode in ("per_example", "per_batch"):
        cfg = load_config(None, [*base, f"train.l2_mode={mode}"])
        data = prepare_data(cfg.data, seed=0)
        trainer = Trainer(
            build_model(cfg.model, data.input_shape, data.num_classes), data, cfg.train, quiet=True
        )
        n = len(data.splits["train"])
        coefs[mode] = trainer._l2_coef
        assert trainer.steps_per_epoch == -(-n // 10)
    assert coefs["per_example"] == pytest.approx(0.1 / (2 * n))
    assert coefs["per_batch"] == pytest.approx(0.1 / (2 * (-(-n // 10))))
    with pytest.raises(ConfigError, match=r"train\.l2_mode"):
        load_config(None, ["train.l2_mode=per_epoch"])


def test_restore_best_weights_is_accepted_as_keras_spells_it() -> None:
    cfg = load_config(
        None, ["train.early_stopping={monitor: val_loss}", "train.early_stopping.restore_best_weights=false"]
    )
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.restore_best is False
    with pytest.raises(ConfigError, match=r"train\.early_stopping\.restore_best_weight: unknown key"):
        load_config(None, ["train.early_stopping.restore_best_weight=false"])
