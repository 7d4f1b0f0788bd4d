"""Metric paths: the form of a name an objective may read, checked without any metrics.

A metric path names one number of a split's metrics: ``accuracy``, ``error``, ``loss``,
``macro.f1``, ``hmean.recall``, ``per_class.cat.recall``, ``binary.lr_plus``, any F-beta
(``macro.f2``), optionally behind a split (``test.macro.f1``), or a run-wide measurement
(``latency_ms``, ``params``, ...). The config validates ``evaluate.metric`` and
``evaluate.constraints`` with :func:`validate_objective`; the metrics package resolves paths
against real numbers.

Example:
    >>> check_metric_path("dev.hmean.recall")
    >>> needs_latency("accuracy", ["latency_ms <= 5"])
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from knobwise.errors import ConfigError
from knobwise.objective._expr import expression_direction, names_in, parse_constraint, parse_expression
from knobwise.objective._names import (
    COUNT_NAMES,
    LATENCY_NAMES,
    RATE_NAMES,
    RUN_MEASURES,
    SPLITS,
    canonical_rate,
    parse_beta,
)
from knobwise.registry import closest

__all__ = [
    "TOP_NAMES",
    "METRIC_FORMS",
    "GROUPS",
    "rate_name",
    "path_parts",
    "check_metric_path",
    "validate_objective",
    "needs_latency",
]

TOP_NAMES = ("accuracy", "error", "loss", "n")
GROUPS = ("macro", "weighted", "micro", "hmean", "binary")
METRIC_FORMS = "accuracy, error, loss, macro|weighted|micro|hmean|binary.RATE, per_class.CLASS.RATE"


def rate_name(name: str, path: str) -> str:
    """Canonical rate name, or a ConfigError naming close ones."""
    r = canonical_rate(name)
    if r in RATE_NAMES or r in COUNT_NAMES or parse_beta(r) is not None:
        return r
    near = closest(r, [*RATE_NAMES, *COUNT_NAMES])
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise ConfigError(
        f"metric {path!r}: unknown rate {name!r}{hint} (rates: {', '.join(RATE_NAMES)}, f<beta>)"
    )


def path_parts(path: str) -> list[str]:
    """``path`` split at dots, keeping a decimal F-beta (``f0.5``) whole."""
    parts = path.split(".")
    if len(parts) >= 3 and re.fullmatch(r"f\d+", parts[-2], re.IGNORECASE) and parts[-1].isdigit():
        parts = [*parts[:-2], f"{parts[-2]}.{parts[-1]}"]
    return parts


def check_metric_path(path: str) -> None:
    """Check a path's form without metrics (config validation): a ConfigError if it cannot exist.

    >>> check_metric_path("dev.hmean.recall")
    """
    if path in RUN_MEASURES:
        return
    parts = path_parts(path)
    if parts[0] in SPLITS and len(parts) > 1:
        parts = parts[1:]
    head = parts[0].lower()
    if len(parts) == 1 and head in TOP_NAMES:
        return
    if head == "per_class" and len(parts) >= 3:
        rate_name(parts[-1], path)
        return
    if head in GROUPS and len(parts) == 2:
        rate_name(parts[1], path)
        return
    near = closest(path, [*TOP_NAMES, *RUN_MEASURES, *(f"{g}.{r}" for g in GROUPS for r in RATE_NAMES)])
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise ConfigError(f"unknown metric {path!r}{hint} (forms: {METRIC_FORMS}, {', '.join(RUN_MEASURES)})")


def validate_objective(metric: str, constraints: Sequence[str], direction: str | None = None) -> None:
    """Check ``evaluate.metric`` and ``evaluate.constraints`` (syntax, paths, direction); every
    message starts with the offending key.

    >>> validate_objective("macro.recal", [])
    Traceback (most recent call last):
    ...
    knobwise.errors.ConfigError: evaluate.metric: metric 'macro.recal': unknown rate 'recal'; ...
    """
    node = parse_expression(metric, "evaluate.metric")
    try:
        for name in names_in(node):
            check_metric_path(name)
        if direction is None:
            expression_direction(node)
    except ConfigError as exc:
        raise ConfigError(f"evaluate.metric: {exc}") from None
    for i, text in enumerate(constraints):
        key = f"evaluate.constraints[{i}]"
        c = parse_constraint(text, key)
        try:
            for name in names_in(c.expr):
                check_metric_path(name)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None


def needs_latency(metric: str, constraints: Sequence[str]) -> bool:
    """Whether the metric or a constraint reads a latency measurement.

    >>> needs_latency("accuracy", ["latency_ms <= 5"])
    True
    """
    names = names_in(parse_expression(metric))
    for text in constraints:
        names += names_in(parse_constraint(text).expr)
    return any(n in LATENCY_NAMES for n in names)
