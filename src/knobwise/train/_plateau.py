"""``reduce_on_plateau`` with the rule of Keras's ``ReduceLROnPlateau``, epoch for epoch.

``torch.optim.lr_scheduler.ReduceLROnPlateau`` reduces one epoch later for the same ``patience``
(it waits for ``patience + 1`` bad epochs), measures ``min_delta`` relative to the best value, and
counts cooldown differently, so a Keras recipe ported to it behaves differently. This scheduler
applies Keras's rule at the end of every epoch:

1. in cooldown: the cooldown counter drops by one and the wait restarts at 0;
2. an improvement (``value < best - min_delta`` in ``min`` mode, ``value > best + min_delta`` in
   ``max`` mode) becomes the new best and restarts the wait;
3. otherwise, out of cooldown, the wait grows by one; when it reaches ``patience`` the learning
   rate becomes ``max(lr * factor, min_lr)`` (only while ``lr > min_lr``), the cooldown starts
   (``cooldown`` epochs) and the wait restarts.

So with ``patience: p`` the rate drops at the end of the p-th epoch in a row without improvement
(``patience: 0`` behaves as 1). A non-finite value never improves.

Example:
    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> plateau = KerasPlateau(opt, mode="min", factor=0.5, patience=1)
    >>> for v in [1.0, 1.0, 1.0]:
    ...     plateau.step(v)
    >>> opt.param_groups[0]["lr"]
    0.25
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["KerasPlateau"]


class KerasPlateau:
    """Keras's ``ReduceLROnPlateau`` on a torch optimizer (every parameter group)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        mode: str,
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float) -> None:
        """The end of an epoch whose monitored value is ``value``."""
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if math.isfinite(value) and self.improved(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                reduced = False
                for group in self.optimizer.param_groups:
                    # Keras compares in float32, so a rate that reached min_lr stays there.
                    if float(group["lr"]) > float(np.float32(self.min_lr)):
                        group["lr"] = max(float(group["lr"]) * self.factor, self.min_lr)
                        reduced = True
                if reduced:
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the learning rates live in the optimizer)."""
        self.best = float(state.get("best", self.best))
        self.wait = int(state.get("wait", 0))
        self.cooldown_counter = int(state.get("cooldown_counter", 0))
