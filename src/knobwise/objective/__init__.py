"""The objective grammar: metric paths, expressions and constraints, in pure Python.

It sits below the config (which validates ``evaluate.metric`` and ``evaluate.constraints``
with it) and below the metrics package (which resolves paths against real numbers), so neither
imports the other to check a name.

Example:
    >>> from knobwise.objective import parse_constraint, validate_objective
    >>> validate_objective("hmean(dev.macro.precision, dev.macro.recall)", ["latency_ms <= 100"])
    >>> parse_constraint("accuracy >= 96%").value
    0.96
"""

from knobwise.objective._expr import (
    FUNCTIONS,
    Call,
    Constraint,
    Name,
    Node,
    Number,
    evaluate_expression,
    expression_direction,
    metric_direction,
    names_in,
    parse_constraint,
    parse_expression,
    parse_number,
)
from knobwise.objective._names import (
    COUNT_NAMES,
    LATENCY_NAMES,
    PROPORTIONS,
    RATE_ALIASES,
    RATE_NAMES,
    RUN_MEASURES,
    SPLITS,
    beta_key,
    canonical_rate,
    parse_beta,
)
from knobwise.objective._paths import (
    GROUPS,
    METRIC_FORMS,
    TOP_NAMES,
    check_metric_path,
    needs_latency,
    path_parts,
    rate_name,
    validate_objective,
)

__all__ = [
    "COUNT_NAMES",
    "FUNCTIONS",
    "GROUPS",
    "LATENCY_NAMES",
    "METRIC_FORMS",
    "PROPORTIONS",
    "RATE_ALIASES",
    "RATE_NAMES",
    "RUN_MEASURES",
    "SPLITS",
    "TOP_NAMES",
    "Call",
    "Constraint",
    "Name",
    "Node",
    "Number",
    "beta_key",
    "canonical_rate",
    "check_metric_path",
    "evaluate_expression",
    "expression_direction",
    "metric_direction",
    "names_in",
    "needs_latency",
    "parse_beta",
    "parse_constraint",
    "parse_expression",
    "parse_number",
    "path_parts",
    "rate_name",
    "validate_objective",
]
