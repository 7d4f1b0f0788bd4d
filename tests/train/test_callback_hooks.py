"""The fit loop's callbacks: one list, called by order, with the progress display among them."""

from __future__ import annotations

import pytest

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.errors import TrainingError
from knobwise.models import build_model
from knobwise.train import Callback, EpochProgress, Trainer


class _Recorder(Callback):
    """Records the hooks it sees and logs a line at the end of each epoch."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.steps = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        self.calls.append("train_begin")

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.calls.append(f"epoch_begin {epoch}")

    def on_steps(self, trainer: Trainer, epoch: int, steps: int) -> None:
        self.steps += steps

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.calls.append(f"epoch_end {epoch}")
        trainer.log(f"recorder saw epoch {epoch + 1}")

    def on_train_end(self, trainer: Trainer) -> None:
        self.calls.append("train_end")


def _trainer(overrides: list[str], callbacks: list[Callback], quiet: bool = False) -> Trainer:
    cfg = load_config(None, ["data.limit=200", "model.name=mlp", "model.options.hidden=[16]", *overrides])
    data = prepare_data(cfg.data, seed=0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    return Trainer(model, data, cfg.train, seed=0, callbacks=callbacks, quiet=quiet)


def test_the_display_is_the_last_callback_of_each_hook(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = _Recorder()
    trainer = _trainer(["train.epochs=2", "train.batch_size=16"], [recorder])
    (display,) = [cb for cb in trainer.callbacks if isinstance(cb, EpochProgress)]
    assert trainer.ordered_callbacks()[-1] is display
    trainer.fit()
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 0",
        "epoch_end 0",
        "epoch_begin 1",
        "epoch_end 1",
        "train_end",
    ]
    assert recorder.steps >= trainer.steps_per_epoch  # the step loop reported both epochs' progress
    lines = capsys.readouterr().err.splitlines()
    # A line logged by a callback for an epoch comes before that epoch's line.
    assert [line.split(" - ")[0] for line in lines] == [
        "recorder saw epoch 1",
        "epoch 1/2",
        "recorder saw epoch 2",
        "epoch 2/2",
    ]
    assert not [cb for cb in _trainer([], [], quiet=True).callbacks if isinstance(cb, EpochProgress)]


def test_a_non_finite_epoch_is_shown_then_stops(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = _Recorder()
    overrides = ["train.epochs=2", "train.optimizer.name=sgd", "train.optimizer.lr=1e12"]
    trainer = _trainer(overrides, [recorder])
    with pytest.raises(TrainingError, match=r"non-finite training loss \(nan\) in epoch 1"):
        trainer.fit()
    assert recorder.calls == ["train_begin", "epoch_begin 0"]  # no on_epoch_end for that epoch
    assert capsys.readouterr().err.startswith("epoch 1/2 - loss nan - ")
