"""The pruners a study can use, by name: early stopping of hopeless trials (Optuna's pruners).

The training loop reports the dev metric after every epoch (step = epoch number); the pruner
compares it with the other trials at the same epoch.

Example:
    >>> type(create_pruner("median", epochs=10)).__name__
    'MedianPruner'
    >>> list_pruners()
    ['hyperband', 'median', 'none', 'successive_halving']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.pruners import BasePruner

from knobwise.registry import Registry

__all__ = ["PRUNERS", "register_pruner", "create_pruner", "list_pruners"]

PrunerFactory = Callable[..., BasePruner]

PRUNERS: Registry[PrunerFactory] = Registry("pruner", key="--pruner")
register_pruner = PRUNERS.register


@register_pruner("none")
def _none(**_: Any) -> BasePruner:
    return optuna.pruners.NopPruner()


@register_pruner("median")
def _median(*, startup_trials: int = 5, warmup_epochs: int = 0, **_: Any) -> BasePruner:
    # A trial is judged only after `startup_trials` complete ones, and from epoch `warmup_epochs` + 1.
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)


@register_pruner("successive_halving")
def _successive_halving(**_: Any) -> BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


@register_pruner("hyperband")
def _hyperband(*, epochs: int = 10, **_: Any) -> BasePruner:
    # Resources are epochs: brackets run from 1 epoch to the configured train.epochs.
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)


def create_pruner(
    name: str, *, epochs: int = 10, startup_trials: int = 5, warmup_epochs: int = 0
) -> BasePruner:
    """The Optuna pruner called ``name``; ``epochs`` is the trials' ``train.epochs``."""
    return PRUNERS.create(name, epochs=epochs, startup_trials=startup_trials, warmup_epochs=warmup_epochs)


def list_pruners(pattern: str = "*") -> list[str]:
    """Names of the registered pruners."""
    return PRUNERS.names(pattern)
