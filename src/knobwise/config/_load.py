"""Loading configs: YAML files, ``--set a.b=c`` overrides, and one-line error messages.

Example:
    >>> cfg = load_config(None, ["train.epochs=3", "train.optimizer.lr=1e-2"])
    >>> cfg.train.epochs, cfg.train.optimizer.lr
    (3, 0.01)
    >>> load_config(None, ["train.epoch=3"])
    Traceback (most recent call last):
    ...
    knobwise.errors.ConfigError: train.epoch: unknown key; did you mean 'train.epochs'? (allowed: ...)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from knobwise.config._experiment import QUICKSTART, ExperimentConfig
from knobwise.errors import ConfigError
from knobwise.registry import closest

__all__ = [
    "load_config",
    "apply_overrides",
    "config_to_yaml",
    "config_from_dict",
    "read_yaml",
    "schema_paths",
    "validate_path",
]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; a missing or malformed file is a :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a YAML mapping (key: value), got {type(data).__name__}")
    return data


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, for example train.epochs=5")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: the key must be a dotted path such as train.optimizer.lr")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(
    data: dict[str, Any], overrides: Sequence[str] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return a copy of ``data`` with each override set: ``a.b=c`` text (the value parsed as
    YAML, as ``--set`` gives it) or a mapping of dotted keys to values (used as they are, as
    the Python API and tuning give them).

    Every key is checked against the schema first, so a typo names the closest valid key.

    >>> apply_overrides({}, ["train.optimizer.lr=0.5"])
    {'train': {'optimizer': {'lr': 0.5}}}
    >>> apply_overrides({}, {"train.epochs": 3})
    {'train': {'epochs': 3}}
    """
    out = copy.deepcopy(data)
    if isinstance(overrides, Mapping):
        pairs = [(str(k).split("."), v) for k, v in overrides.items()]
    else:
        pairs = [_parse_override(item) for item in overrides or []]
    for parts, value in pairs:
        validate_path(".".join(parts))
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if isinstance(child, str) and part in ("loss", "schedule"):
                child = {"name": child}  # the shorthand `loss: hinge` becomes a mapping
            if not isinstance(child, dict):
                child = {}
            node[part] = child
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``Foo | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    if get_origin(annotation) is None:
        return None
    return None


def _fields_at(path: list[str]) -> tuple[type[BaseModel] | None, str]:
    """Walk the schema along ``path``; return the model that should hold the last key."""
    model: type[BaseModel] | None = ExperimentConfig
    prefix: list[str] = []
    for part in path:
        if model is None:
            return None, ".".join(prefix)
        field = model.model_fields.get(part)
        if field is None:
            return model, ".".join(prefix)
        prefix.append(part)
        model = _model_of(field.annotation)
    return model, ".".join(prefix)


def schema_paths(model: type[BaseModel] = ExperimentConfig, prefix: str = "") -> list[str]:
    """Every dotted leaf path of the schema (``train.optimizer.lr``, ...)."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        full = f"{prefix}{name}"
        if sub is not None:
            paths.append(full)
            paths.extend(schema_paths(sub, f"{full}."))
        else:
            paths.append(full)
    return paths


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    """Alternative key names a section accepts (pydantic ``AliasChoices``) -> the field name."""
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        choices = getattr(field.validation_alias, "choices", None) or []
        out.update({str(c): name for c in choices if isinstance(c, str) and c != name})
    return out


def validate_path(key: str) -> None:
    """Raise :class:`ConfigError` when ``key`` is not a path of the schema, naming the closest.

    Paths below free-form mappings (``model.options.*``, layer lists) are accepted as they are.
    """
    parts = key.split(".")
    model: type[BaseModel] | None = ExperimentConfig
    for i, part in enumerate(parts):
        if model is None:
            return  # below a free-form value: nothing more to check
        part = _aliases(model).get(part, part)  # e.g. restore_best_weights -> restore_best
        if part not in model.model_fields:
            prefix = ".".join(parts[:i])
            allowed = list(model.model_fields)
            near = closest(part, allowed)
            full = f"{prefix}.{part}" if prefix else part
            hint = f"; did you mean {', '.join(repr(f'{prefix}.{n}' if prefix else n) for n in near)}?"
            raise ConfigError(f"{full}: unknown key{hint if near else ''} (allowed: {', '.join(allowed)})")
        model = _model_of(model.model_fields[part].annotation)


def _format_error(err: Any) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    key = ".".join(loc)
    etype = err.get("type", "")
    if etype == "extra_forbidden":
        parent, prefix = _fields_at(loc[:-1])
        allowed = list(parent.model_fields) if parent else []
        near = closest(loc[-1], allowed)
        where = f"{prefix}." if prefix else ""
        hint = f"; did you mean {', '.join(repr(where + n) for n in near)}?" if near else ""
        return f"{key}: unknown key{hint} (allowed: {', '.join(allowed)})"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if etype == "value_error" and (not key or msg.split(" ")[0].startswith(tuple(loc[:1]))):
        return msg  # our own validators already name the key
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a mapping"
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{key} {msg.lower().replace('input should be', 'must be')}, got {value!r}"
    return f"{key}: {msg.lower().replace('input should be', 'must be')}, got {shown}"


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Validate a plain mapping into an :class:`ExperimentConfig`, with one-line errors."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc.errors()[0])) from None


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] | Mapping[str, Any] | None = None
) -> ExperimentConfig:
    """Load a YAML config (or the built-in :data:`QUICKSTART` when ``path`` is None), apply overrides.

    >>> load_config(None, {"train.epochs": 2}).train.epochs
    2
    """
    data = read_yaml(path) if path is not None else copy.deepcopy(QUICKSTART)
    return config_from_dict(apply_overrides(data, overrides))


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML, every default spelled out (saved as ``config.yaml``)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, default_flow_style=None)
