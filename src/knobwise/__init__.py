"""knobwise: train, measure, diagnose and tune image classifiers, one knob at a time.

The Python API (everything the command line does)::

    import knobwise as kw
    run = kw.train("examples/quickstart.yaml", overrides={"train.epochs": 5})
    run.metrics["test"]["accuracy"], run.diagnose(human_error=0.5)
    p = run.predict(["a.png", "b.png"]); p.classes, p.proba
    study = kw.tune("cfg.yaml", space="space.yaml", sampler="tpe", trials=20)

The names below load on first use (:mod:`knobwise.api`), so ``import knobwise`` and
``knobwise --help`` stay fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from knobwise.api import (
        Run,
        Study,
        diagnose,
        ensemble,
        load_config,
        load_run,
        load_study,
        select,
        train,
        tune,
    )

__all__ = [
    "Run",
    "Study",
    "__version__",
    "diagnose",
    "ensemble",
    "load_config",
    "load_run",
    "load_study",
    "select",
    "train",
    "tune",
]

_API = frozenset(__all__) - {"__version__"}


class _Package(types.ModuleType):
    """The ``knobwise`` module: the API names resolve to :mod:`knobwise.api` on first use.

    Lazy, because the API pulls in torch and the whole package and ``import knobwise`` alone must
    not. And always the API: ``train``, ``tune``, ``diagnose`` and ``select`` are also subpackages,
    which Python binds as attributes of this module once they are imported; ``kw.train`` must stay
    the function (the subpackages are reached with ``from knobwise.train import ...``).
    """

    def __getattribute__(self, name: str) -> Any:
        if name in _API:
            return getattr(importlib.import_module("knobwise.api"), name)
        return super().__getattribute__(name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_API})


sys.modules[__name__].__class__ = _Package
