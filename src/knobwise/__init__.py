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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from knobwise.api import Run, Study, diagnose, load_config, load_run, load_study, select, train, tune

__all__ = [
    "Run",
    "Study",
    "__version__",
    "diagnose",
    "load_config",
    "load_run",
    "load_study",
    "select",
    "train",
    "tune",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    # Lazy: the API pulls in torch and the whole package; importing knobwise alone must not.
    if name in _API:
        return getattr(importlib.import_module("knobwise.api"), name)
    raise AttributeError(f"module 'knobwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
