"""Callbacks: the hooks of the fit loop. Everything that watches training is one: the progress
display, the history writer, early stopping, the trackers, a study's pruning.

The hooks are called once per epoch, except :meth:`Callback.on_steps` (about 50 times per epoch,
with no values: reading a loss there would synchronize with the device) and
:meth:`Callback.on_log` (once per human-readable line). Within a hook, callbacks are called by
their ``order``, then in the order they were given. A callback may stop training by setting
``trainer.stop_reason``. Its ``state_dict`` goes into the checkpoint, so a resumed run continues
with the same patience counters.

Example:
    >>> from knobwise.config import EarlyStoppingConfig
    >>> es = EarlyStopping(EarlyStoppingConfig(monitor="val_loss", patience=1, restore_best=False))
    >>> es.improved(1.0), es.improved(1.5)
    (True, False)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from knobwise.config import EarlyStoppingConfig
from knobwise.errors import ConfigError
from knobwise.train._schedule import monitor_mode

if TYPE_CHECKING:
    from knobwise.train._fit import Trainer

__all__ = ["Callback", "EarlyStopping"]


class Callback:
    """Base class: override what you need."""

    #: Call order within a hook: lower first, equal ones in the order they were given. A display
    #: uses a high order, so that an epoch's line comes after what the others logged for it.
    order = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first (or resumed) epoch."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called before the steps of each epoch."""

    def on_steps(self, trainer: Trainer, epoch: int, steps: int) -> None:
        """Called about 50 times per epoch by the step loop: ``steps`` more steps were taken."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with its logs (loss, accuracy, val_loss, val_accuracy, lr, ...)."""

    def on_epoch_failed(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called instead of :meth:`on_epoch_end` for an epoch whose training loss is not finite,
        just before training stops with a :class:`~knobwise.errors.TrainingError` (the history and
        the checkpoint keep the epochs before it)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch (also after an early stop)."""

    def on_log(self, trainer: Trainer, line: str) -> None:
        """Called with each human-readable line the trainer logs (:meth:`Trainer.log`)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Keras's ``EarlyStopping`` rule: stop at the end of the ``patience``-th epoch in a row in
    which ``monitor`` did not beat the best by more than ``min_delta``.

    At the end of every monitored epoch the wait grows by one; an improvement records the new best
    (and its weights, with ``restore_best``) and restarts the wait at 0 (with ``baseline``, only
    when the value also beats the baseline); otherwise training stops once the wait reaches
    ``patience`` (never on the first epoch). A non-finite value never improves. With
    ``restore_best`` the weights of the best epoch are put back at the end (they are kept in memory
    and in the checkpoint).
    """

    def __init__(self, cfg: EarlyStoppingConfig) -> None:
        self.cfg = cfg
        self.mode = monitor_mode(cfg.monitor) if cfg.mode == "auto" else cfg.mode
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def _beats(self, value: float, reference: float) -> bool:
        d = self.cfg.min_delta
        return value < reference - d if self.mode == "min" else value > reference + d

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (and record it)."""
        better = math.isfinite(value) and self._beats(value, self.best)
        if better:
            self.best = value
        return better

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.cfg.monitor not in logs:
            raise ConfigError(
                f"train.early_stopping.monitor: {self.cfg.monitor!r} is not logged "
                f"(logged: {', '.join(k for k in logs if k != 'epoch')})"
            )
        if epoch < self.cfg.start_from_epoch:
            return
        value = logs[self.cfg.monitor]
        if self.cfg.restore_best and self.best_state is None:  # as Keras: the first weights seen
            self.best_state = self._snapshot(trainer)
            self.best_epoch = epoch
        self.wait += 1
        if self.improved(value):
            self.best_epoch = epoch
            if self.cfg.restore_best:
                self.best_state = self._snapshot(trainer)
            baseline = self.cfg.baseline
            if baseline is None or self._beats(value, baseline):
                self.wait = 0
            return
        if self.wait >= self.cfg.patience and epoch > 0:
            self.stopped_epoch = epoch
            trainer.stop_reason = (
                f"early stopping: {self.cfg.monitor} did not improve for {self.wait} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch + 1})"
            )

    @staticmethod
    def _snapshot(trainer: Trainer) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def on_train_end(self, trainer: Trainer) -> None:
        if self.cfg.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)
            trainer.log(
                f"restored the weights of epoch {self.best_epoch + 1} ({self.cfg.monitor} = {self.best:.4g})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state.get("best", self.best))
        self.best_epoch = int(state.get("best_epoch", -1))
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", -1))
