"""What every tracker shares: the failure policy, the trial context, and flattening to scalars.

A tracker never loses a run: any exception inside it (a locked database, a full disk, a folder
that cannot be written) becomes one warning line in the run's log and switches that tracker off
for the rest of the run, while training goes on.

Example:
    >>> flatten({"train": {"optimizer": {"lr": 0.1}, "epochs": 2}, "model": {"layers": None}})
    {'train.optimizer.lr': 0.1, 'train.epochs': 2, 'model.layers': None}
    >>> final_scalars({"dev": {"accuracy": 0.9, "macro": {"f1": 0.8}, "classes": ["a"]}})
    {'dev.accuracy': 0.9, 'dev.macro.f1': 0.8}
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from knobwise.errors import ConfigError
from knobwise.train import Callback

if TYPE_CHECKING:
    from knobwise.train import Trainer

__all__ = ["TrackContext", "Tracker", "flatten", "final_scalars", "epoch_scalars", "require"]

T = TypeVar("T")

#: Parts of metrics.json that are tables or labels, not numbers to chart.
_NOT_SCALARS = ("per_class", "confusion_matrix", "classes", "sources")


@dataclass(frozen=True)
class TrackContext:
    """How one trial of a study is tracked, decided by the worker and used by the trial's process.

    ``mlflow_run_id`` is the nested run the worker created (its parameters are the sampled values,
    already logged); ``tensorboard_name`` is the trial's folder under ``track.tensorboard.dir``.
    """

    mlflow_run_id: str | None = None
    tensorboard_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def require(module: str, extra: str, key: str) -> None:
    """A :class:`ConfigError` naming the extra to install when ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f'{key} needs the {extra} package: pip install "knobwise[{extra}]"') from None


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and other leaves are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def final_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics.json`` as dotted keys (``dev.accuracy``, ``dev.macro.f1``,
    ``model.params``, ``objective.value``, ...); tables and undefined (null) rates are left out."""
    out: dict[str, float] = {}
    for key, value in flatten({k: v for k, v in metrics.items()}).items():
        if any(part in _NOT_SCALARS for part in key.split(".")):
            continue
        number = _number(value)
        if number is not None:
            out[key] = number
    return out


def epoch_scalars(logs: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's numbers as history.csv names them (loss, val_accuracy, lr, grad_norm/<layer>, ...)."""
    out = {}
    for key, value in logs.items():
        number = _number(value)
        if key != "epoch" and number is not None:
            out[key] = number
    return out


class Tracker(Callback):
    """A training callback whose every action is guarded: the first failure is logged as a warning
    and turns the tracker off; the run itself is never affected."""

    name = "tracker"

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.failed = False

    def guard(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn(*args)``, or None after logging a warning when it (or an earlier call) failed."""
        if self.failed:
            return None
        try:
            return fn(*args)
        except Exception as exc:
            self.failed = True
            reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            self.log(
                f"warning: {self.name} tracking failed while {what} ({reason}); "
                "it is off for the rest of this run, the run itself goes on"
            )
            return None

    def on_train_begin(self, trainer: Trainer) -> None:
        self.log = trainer.log  # from here on warnings show on the console as well as in log.txt

    def finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        """The run is complete (metrics.json and the report are written): final metrics, artifacts."""

    def close(self, error: BaseException | None = None) -> None:
        """Release files and connections; ``error`` is why the run ended early (None: it finished)."""
