"""Search spaces: which config paths a study varies, over which ranges, and under which conditions.

A space is a YAML mapping from config paths to a range or a list of values::

    train.optimizer.lr: {type: float, low: 1.0e-4, high: 0.3, log: true}    # 10^r, r uniform
    train.batch_size: [16, 32, 64]                                          # a grid-ready list
    train.optimizer.name: {type: categorical, choices: [sgd, adam]}
    train.optimizer.momentum: {type: float, low: 0.5, high: 0.99, when: {train.optimizer.name: sgd}}

Entries are sampled in file order; ``when`` conditions refer to an earlier entry or to the base
config, and an entry whose condition does not hold is not sampled (the base value stays).

Example:
    >>> space = parse_space({"train.optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}})
    >>> space.params[0].log, space.params[0].low
    (True, 0.0001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import yaml

from knobwise.config import apply_overrides, config_from_dict, read_yaml, validate_path
from knobwise.errors import ConfigError

__all__ = ["Param", "SearchSpace", "parse_space", "load_space", "config_with"]

_ENTRY_KEYS = ("type", "low", "high", "log", "step", "choices", "when")
_TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class Param:
    """One searched config path: a numeric range (``float``/``int``) or a list of ``choices``."""

    path: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        return self.type in ("float", "int")

    def grid_values(self) -> list[Any]:
        """Every value of a finite entry; a continuous float range is a :class:`ConfigError`."""
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.type == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            raise ConfigError(
                f"{self.path}: the grid sampler needs a finite set of values, got the continuous range "
                f"[{self.low:g}, {self.high:g}] (give a list of values or a step)"
            )
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(n)]

    def suggest(self, trial: optuna.Trial) -> Any:
        """Sample this entry through Optuna (which records the distribution with the trial)."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return trial.suggest_int(
                self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.path, float(self.low), float(self.high), step=self.step, log=self.log)

    def active(self, values: dict[str, Any], base: dict[str, Any]) -> bool:
        """Whether every ``when`` condition holds for the values sampled so far (or the base config)."""
        for path, allowed in self.when.items():
            value = values[path] if path in values else _lookup(base, path)
            if value not in allowed:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.numeric:
            out.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                out["step"] = self.step
        else:
            out["choices"] = list(self.choices)
        if self.when:
            out["when"] = {k: list(v) if len(v) > 1 else v[0] for k, v in self.when.items()}
        return out


@dataclass(frozen=True)
class SearchSpace:
    """An ordered list of :class:`Param`; ``source`` names the file in messages."""

    params: tuple[Param, ...]
    source: str = "space"

    def suggest(self, trial: optuna.Trial, base: dict[str, Any]) -> dict[str, Any]:
        """Sample every active entry for ``trial``; returns ``{path: value}``."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values, base):
                values[p.path] = p.suggest(trial)
        return values

    def grid(self) -> dict[str, list[Any]]:
        """The search space of :class:`optuna.samplers.GridSampler`."""
        return {p.path: p.grid_values() for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def to_dict(self) -> dict[str, Any]:
        return {p.path: p.to_dict() for p in self.params}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_params(self, params: list[Param]) -> SearchSpace:
        return replace(self, params=tuple(params))


def _lookup(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(src: str, path: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{src}: {path}.{key} must be a number, got {value!r}")
    return float(value)


def _parse_entry(src: str, path: str, raw: Any) -> Param:
    try:
        validate_path(path)
    except ConfigError as exc:
        raise ConfigError(f"{src}: {exc}") from None
    if isinstance(raw, list):
        if not raw:
            raise ConfigError(f"{src}: {path}: an empty list of values")
        return Param(path, "categorical", choices=tuple(raw))
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{src}: {path}: expected a mapping {{type, low, high, ...}} or a list of values, got {raw!r}"
        )
    unknown = [k for k in raw if k not in _ENTRY_KEYS]
    if unknown:
        raise ConfigError(f"{src}: {path}.{unknown[0]}: unknown key (allowed: {', '.join(_ENTRY_KEYS)})")
    kind = raw.get("type") or ("categorical" if "choices" in raw else None)
    if kind is None:
        kind = "int" if all(isinstance(raw.get(k), int) for k in ("low", "high")) else "float"
    if kind not in _TYPES:
        raise ConfigError(f"{src}: {path}.type must be one of {', '.join(_TYPES)}, got {kind!r}")
    when = _parse_when(src, path, raw.get("when"))
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{src}: {path}.choices must be a non-empty list, got {choices!r}")
        return Param(path, kind, choices=tuple(choices), when=when)
    for key in ("low", "high"):
        if key not in raw:
            raise ConfigError(f"{src}: {path}.{key} is required for type {kind}")
    low, high = _number(src, path, "low", raw["low"]), _number(src, path, "high", raw["high"])
    log = bool(raw.get("log", False))
    step = _number(src, path, "step", raw["step"]) if raw.get("step") is not None else None
    if low > high:
        raise ConfigError(f"{src}: {path}: low must be <= high, got low={low:g} > high={high:g}")
    if log and low <= 0:
        raise ConfigError(f"{src}: {path}: log scale needs low > 0, got low={low:g}")
    if step is not None and step <= 0:
        raise ConfigError(f"{src}: {path}.step must be > 0, got {step:g}")
    if log and step is not None and kind == "float":
        raise ConfigError(f"{src}: {path}: log and step cannot be combined for a float (Optuna's rule)")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ConfigError(f"{src}: {path}: an int range needs integer bounds, got [{low:g}, {high:g}]")
    return Param(path, kind, low=low, high=high, log=log, step=step, when=when)


def _parse_when(src: str, path: str, raw: Any) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{src}: {path}.when must be a mapping {{config.path: value}}, got {raw!r}")
    out: dict[str, tuple[Any, ...]] = {}
    for key, value in raw.items():
        try:
            validate_path(str(key))
        except ConfigError as exc:
            raise ConfigError(f"{src}: {path}.when: {exc}") from None
        out[str(key)] = tuple(value) if isinstance(value, list) else (value,)
    return out


def parse_space(data: dict[str, Any], source: str = "space") -> SearchSpace:
    """Validate a space mapping (see the module docstring) into a :class:`SearchSpace`."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source}: a search space must be a non-empty mapping of config paths")
    params = [_parse_entry(source, str(path), raw) for path, raw in data.items()]
    seen: set[str] = set()
    for p in params:
        for dep in p.when:
            if dep == p.path or (dep in {q.path for q in params} and dep not in seen):
                raise ConfigError(f"{source}: {p.path}.when refers to {dep}, which must be an earlier entry")
        seen.add(p.path)
    return SearchSpace(tuple(params), source)


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a space YAML file."""
    return parse_space(read_yaml(path), str(path))


def config_with(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The base config mapping with sampled ``values`` set at their dotted paths (typed values
    set directly, not through ``--set`` text).

    >>> config_with({"train": {"epochs": 2}}, {"train.optimizer.lr": 0.01})
    {'train': {'epochs': 2, 'optimizer': {'lr': 0.01}}}
    """
    return apply_overrides(base, values)


def check_against_config(space: SearchSpace, base: dict[str, Any]) -> None:
    """Each entry's bounds and choices must give a valid config (``train.epochs: {low: 0}`` fails now,
    not in trial 37)."""
    for p in space.params:
        probes = list(p.choices) if p.type == "categorical" else [p.low, p.high]
        if p.type == "int":
            probes = [int(v) for v in probes if v is not None]
        cond = {k: v[0] for k, v in p.when.items()}
        for value in probes:
            try:
                config_from_dict(config_with(base, {**cond, p.path: value}))
            except ConfigError as exc:
                raise ConfigError(
                    f"{space.source}: {p.path}={value!r} gives an invalid config: {exc}"
                ) from None
