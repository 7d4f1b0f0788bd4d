"""The settings of ``knobwise tune``, each defined once: a dataclass field whose default is the
setting's default and whose metadata holds its command-line help (and argparse details).

:class:`StudyOptions` holds the settings a study saves in ``study.json`` and every worker uses;
:class:`~knobwise.tune.StudySettings` inherits them, and :class:`~knobwise.tune.TuneRequest`
inherits them and adds the ones of one invocation (config, space, budget, where the study lives).
``knobwise tune`` builds its options from :func:`cli_options`, and ``kw.tune(**kwargs)`` passes
keywords of the same names: adding a setting is one field here (or in ``TuneRequest``).

Example:
    >>> [o.flags for o in cli_options(StudyOptions)][:3]
    [('--sampler',), ('--pruner',), ('--timeout',)]
    >>> StudyOptions().grace
    30
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from knobwise.tune._pruners import PRUNERS
from knobwise.tune._samplers import SAMPLERS

__all__ = ["MISSING", "CliOption", "StudyOptions", "cli_options", "option"]


def option(
    default: Any = None,
    help: str = "",
    *,
    flags: tuple[str, ...] = (),
    type: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    nargs: str | None = None,
    factory: Callable[[], Any] | None = None,
    cli: bool = True,
) -> Any:
    """A setting: its ``default`` (``MISSING``: required; ``factory`` for a mutable one) and how
    the CLI offers it.

    ``flags`` default to ``--name-with-dashes``; a name without dashes is a positional argument.
    A ``bool`` setting that defaults to False is a switch (``store_true``). ``cli`` False: the
    command adds the option itself (``--set``) or has none.
    """
    meta = {"help": help, "flags": flags, "type": type, "metavar": metavar, "nargs": nargs, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class CliOption:
    """One command-line option built from a setting (the argparse ``dest`` is ``name``)."""

    name: str
    flags: tuple[str, ...]
    default: Any
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    nargs: str | None = None

    @property
    def switch(self) -> bool:
        """A flag without a value (``store_true``)."""
        return self.default is False

    def argparse_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ArgumentParser.add_argument(*flags, **kwargs)``."""
        if self.switch:
            return {"action": "store_true", "help": self.help}
        out: dict[str, Any] = {"help": self.help}
        if self.default is not None:
            out["default"] = self.default
        for key in ("type", "metavar", "nargs"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def cli_options(cls: type) -> list[CliOption]:
    """The command-line options of the settings dataclass ``cls``, in field order."""
    out = []
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("cli"):
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        default = None if default is MISSING else default  # a required setting: None on the CLI
        flags = meta["flags"] or ("--" + f.name.replace("_", "-"),)
        out.append(
            CliOption(f.name, flags, default, meta["help"], meta["type"], meta["metavar"], meta["nargs"])
        )
    return out


@dataclass(kw_only=True)
class StudyOptions:
    """The settings a study keeps (``study.json``) and its workers run with."""

    sampler: str = option("tpe", " | ".join(SAMPLERS.names()), metavar="NAME")
    pruner: str = option("none", " | ".join(PRUNERS.names()), metavar="NAME")
    timeout: float | None = option(
        None, "stop starting trials after this long (default: no limit)", type=float, metavar="SECONDS"
    )
    refine: int = option(1, "coarse-to-fine: R rounds, each narrowing ranges", type=int, metavar="R")
    heartbeat: int = option(10, "worker heartbeat interval for RDB storages", type=int, metavar="SECONDS")
    grace: int = option(
        30, "time without a heartbeat before a trial is failed and retried", type=int, metavar="SECONDS"
    )
    pruner_startup: int = option(3, "median pruner: complete trials before pruning", type=int, metavar="N")
    pruner_warmup: int = option(
        0, "median pruner: epochs before a trial can be pruned", type=int, metavar="EPOCHS"
    )
    population: int = option(
        1,
        "ask N trials at a time and train those with the same architecture together in one process",
        type=int,
        metavar="N",
    )  # trials trained together per worker step
