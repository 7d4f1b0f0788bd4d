"""Registries for everything a config names: models, optimizers, schedules, datasets, ...

A registry maps a name to a factory. An unknown name raises a :class:`~knobwise.errors.ConfigError`
that lists what is available and suggests the closest names, so a typo in YAML is one line to fix.

Example:
    >>> from knobwise.registry import Registry
    >>> colors = Registry("color", key="paint.color")
    >>> @colors.register("red")
    ... def make_red(shade: int = 1) -> str:
    ...     return f"red{shade}"
    >>> colors.create("red", shade=2)
    'red2'
    >>> colors.names()
    ['red']
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from knobwise.errors import ConfigError

__all__ = ["Registry", "closest"]

T = TypeVar("T")


def closest(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> list[str]:
    """Return up to ``n`` entries of ``choices`` closest to ``name`` (case-insensitive).

    >>> closest("adma", ["adam", "sgd", "adamw"])
    ['adam', 'adamw']
    """
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    # A name that is part of a longer one ("hinge" in "multiclass_hinge") is a close match too.
    hits += [c for c in lowered if name.lower() in c and c not in hits]
    return [lowered[h] for h in hits[:n]]


class Registry(Generic[T]):
    """A named collection of factories with a decorator to add to it.

    Args:
        kind: what the entries are ("model", "optimizer"), used in messages.
        key: the config key that names an entry ("model.name"), used in messages.
    """

    def __init__(self, kind: str, key: str | None = None) -> None:
        self.kind = kind
        self.key = key or kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (and optional aliases)."""

        def deco(obj: T) -> T:
            for n in (name, *aliases):
                if n in self._entries:
                    raise ValueError(f"{self.kind} {n!r} is already registered")
                self._entries[n] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The entry called ``name``; a :class:`ConfigError` naming close matches if unknown."""
        if name in self._entries:
            return self._entries[name]
        near = closest(name, list(self._entries))
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        raise ConfigError(
            f"{self.key}: unknown {self.kind} {name!r}{hint} (available: {', '.join(self.names())})"
        )

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with the given arguments."""
        factory = self.get(name)
        return factory(*args, **kwargs)  # type: ignore[operator]

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
