"""Callbacks: hooks called once per epoch (never per step, so they add no host synchronization).

A callback may stop training by setting ``trainer.stop_reason``. Its ``state_dict`` goes into the
checkpoint, so a resumed run continues with the same patience counters.

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
from knobwise.train._schedule import monitor_mode

if TYPE_CHECKING:
    from knobwise.train._fit import Trainer

__all__ = ["Callback", "EarlyStopping"]


class Callback:
    """Base class: override what you need."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first (or resumed) epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with its logs (loss, accuracy, val_loss, val_accuracy, lr, ...)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch (also after an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the weights of the best epoch are put back at the end (they are kept in
    memory and in the checkpoint).
    """

    def __init__(self, cfg: EarlyStoppingConfig) -> None:
        self.cfg = cfg
        self.mode = monitor_mode(cfg.monitor) if cfg.mode == "auto" else cfg.mode
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (and record it)."""
        d = self.cfg.min_delta
        better = value < self.best - d if self.mode == "min" else value > self.best + d
        if better:
            self.best = value
        return better

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.cfg.monitor not in logs:
            from knobwise.errors import ConfigError

            raise ConfigError(
                f"train.early_stopping.monitor: {self.cfg.monitor!r} is not logged "
                f"(logged: {', '.join(k for k in logs if k != 'epoch')})"
            )
        value = logs[self.cfg.monitor]
        if math.isfinite(value) and self.improved(value):
            self.best_epoch = epoch
            self.wait = 0
            if self.cfg.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.cfg.patience:
            trainer.stop_reason = (
                f"early stopping: {self.cfg.monitor} did not improve for {self.wait} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch + 1})"
            )

    def on_train_end(self, trainer: Trainer) -> None:
        if self.cfg.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)
            trainer.log(
                f"restored the weights of epoch {self.best_epoch + 1} ({self.cfg.monitor} = {self.best:.4g})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state.get("best", self.best))
        self.best_epoch = int(state.get("best_epoch", -1))
        self.wait = int(state.get("wait", 0))
