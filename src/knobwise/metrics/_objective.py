"""The run's objective: resolving metric paths, the optimizing metric and its constraints.

A metric path names one number of a split's metrics: ``accuracy``, ``error``, ``loss``,
``macro.f1``, ``hmean.recall``, ``weighted.specificity``, ``micro.precision``,
``per_class.cat.recall``, ``binary.lr_plus``. Rate aliases work (``tpr``, ``sensitivity``,
``tnr``, ...) and any F-beta (``macro.f2``, ``per_class.cat.f0.5``) is computed from the stored
counts. At run level a path may start with a split (``test.macro.f1``; default ``dev``) or be a
run-wide measurement: ``latency_ms``, ``latency_p95_ms``, ``throughput``, ``params``,
``size_mb``, ``depth``.

``evaluate.metric`` may be any expression of such paths (``hmean(macro.recall, macro.precision)``)
and each of ``evaluate.constraints`` is ``EXPR OP VALUE``.

Example:
    >>> split = {"accuracy": 0.9, "macro": {"recall": 0.8}, "per_class": {"cat": {"recall": 0.7}}}
    >>> resolve_metric(split, "macro.tpr"), resolve_metric(split, "per_class.cat.recall")
    (0.8, 0.7)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from knobwise.errors import ConfigError
from knobwise.metrics._aggregate import aggregate_rates
from knobwise.objective import (
    GROUPS,
    METRIC_FORMS,
    RATE_NAMES,
    RUN_MEASURES,
    SPLITS,
    TOP_NAMES,
    Node,
    evaluate_expression,
    expression_direction,
    names_in,
    parse_beta,
    parse_constraint,
    parse_expression,
    path_parts,
    rate_name,
)
from knobwise.registry import closest

__all__ = [
    "resolve_metric",
    "resolve_run_metric",
    "check_objective",
    "check_objective_classes",
    "objective_lines",
]


def _fbeta_of(row: dict[str, Any], beta: float) -> float | None:
    tp, fp, fn = (row.get(k) for k in ("tp", "fp", "fn"))
    if tp is None or fp is None or fn is None:
        return None
    b2 = beta * beta
    den = (1 + b2) * tp + b2 * fn + fp
    return None if den == 0 else (1 + b2) * tp / den


def _from_row(row: dict[str, Any], rate: str) -> float | None:
    if rate in row:
        v = row[rate]
        return None if v is None else float(v)
    beta = parse_beta(rate)
    if beta is not None:
        return _fbeta_of(row, beta)
    return None


def resolve_metric(metrics_split: dict[str, Any], path: str) -> float | None:
    """The number at ``path`` in one split's metrics; None when it is undefined (0/0).

    An unknown path or class is a :class:`ConfigError` naming what exists.

    >>> resolve_metric({"per_class": {"a": {"tp": 1, "fp": 1, "fn": 0}}}, "per_class.a.f2")
    0.8333333333333334
    """
    parts = path_parts(path)
    head = parts[0].lower()
    if len(parts) == 1 and head in TOP_NAMES:
        v = metrics_split.get(head)
        return None if v is None else float(v)
    if head == "per_class" and len(parts) >= 3:
        cls, rate = ".".join(parts[1:-1]), rate_name(parts[-1], path)
        table = metrics_split.get("per_class", {})
        if cls not in table:
            raise ConfigError(f"metric {path!r}: no class {cls!r} (classes: {', '.join(table)})")
        return _from_row(table[cls], rate)
    if head in GROUPS and len(parts) == 2:
        rate = rate_name(parts[1], path)
        group = metrics_split.get(head)
        if group is None:
            if head == "binary":
                raise ConfigError(f"metric {path!r}: binary rates exist for two-class problems only")
            raise ConfigError(f"metric {path!r}: the metrics have no {head!r} aggregate")
        if rate in group or head in ("micro", "binary"):
            return _from_row(group, rate)
        return aggregate_rates(
            {
                c: {rate: _from_row(r, rate), "p": r.get("p", 0)}
                for c, r in metrics_split["per_class"].items()
            },
            rate,
            head,
        )
    near = closest(path, [*TOP_NAMES, *(f"{g}.{r}" for g in GROUPS for r in RATE_NAMES)])
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise ConfigError(f"unknown metric {path!r}{hint} (forms: {METRIC_FORMS})")


def resolve_run_metric(metrics: dict[str, Any], path: str, default_split: str = "dev") -> float | None:
    """A metric path against a whole run's ``metrics.json``: an optional split prefix
    (default ``default_split``), or a run-wide measurement such as ``latency_ms``.

    >>> resolve_run_metric({"dev": {"accuracy": 0.9}, "model": {"params": 10}}, "params")
    10.0
    """
    if path in RUN_MEASURES:
        section, key = RUN_MEASURES[path]
        if section == "latency" and "latency" not in metrics:
            raise ConfigError(
                f"metric {path!r}: latency was not measured for this run (knobwise evaluate --latency)"
            )
        v = metrics.get(section, {}).get(key)
        return None if v is None else float(v)
    split, rest = default_split, path
    head = path.split(".", 1)[0]
    if head in SPLITS and "." in path:
        split, rest = head, path.split(".", 1)[1]
    if split not in metrics:
        present = [s for s in SPLITS if s in metrics]
        raise ConfigError(f"metric {path!r}: the run has no {split} split (splits: {', '.join(present)})")
    return resolve_metric(metrics[split], rest)


def check_objective(
    metrics: dict[str, Any], metric: str, constraints: Sequence[str], direction: str | None = None
) -> dict[str, Any]:
    """``{"metric", "split", "direction", "value", "constraints": [{"expr", "value", "satisfied"}],
    "satisfied"}`` for a run's metrics; paths default to the dev split (test when there is none).

    >>> m = {"dev": {"accuracy": 0.9}, "model": {"params": 100}}
    >>> o = check_objective(m, "accuracy", ["params <= 50"])
    >>> o["value"], o["constraints"][0]["satisfied"], o["satisfied"]
    (0.9, False, False)
    """
    split = next((s for s in ("dev", "test", "train") if s in metrics), "dev")
    node: Node = parse_expression(metric, "evaluate.metric")

    def lookup(name: str) -> float | None:
        return resolve_run_metric(metrics, name, split)

    checked = []
    for i, text in enumerate(constraints):
        c = parse_constraint(text, f"evaluate.constraints[{i}]")
        value = evaluate_expression(c.expr, lookup)
        checked.append({"expr": c.text, "value": value, "satisfied": c.check(value)})
    return {
        "metric": metric,
        "split": split,
        "direction": direction or expression_direction(node),
        "value": evaluate_expression(node, lookup),
        "constraints": checked,
        "satisfied": all(c["satisfied"] for c in checked),
    }


def check_objective_classes(metric: str, constraints: Sequence[str], classes: Sequence[str]) -> None:
    """Check the class names (``per_class.NAME.rate``) and ``binary.*`` paths of an objective
    against the data's classes, before training; a :class:`ConfigError` names what exists.

    >>> check_objective_classes("per_class.cat.recall", [], ["cat", "dog"])
    """
    names = names_in(parse_expression(metric, "evaluate.metric"))
    for i, text in enumerate(constraints):
        names += names_in(parse_constraint(text, f"evaluate.constraints[{i}]").expr)
    for name in names:
        parts = path_parts(name)
        if parts[0] in SPLITS and len(parts) > 1:
            parts = parts[1:]
        if parts[0] == "per_class" and len(parts) >= 3:
            cls = ".".join(parts[1:-1])
            if cls not in classes:
                near = closest(cls, list(classes))
                hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
                raise ConfigError(
                    f"evaluate: metric {name!r} names class {cls!r}{hint} (classes: {', '.join(classes)})"
                )
        if parts[0] == "binary" and len(classes) != 2:
            raise ConfigError(
                f"evaluate: metric {name!r}: binary rates need two classes, the data has {len(classes)}"
            )


def objective_lines(objective: dict[str, Any]) -> list[str]:
    """Human-readable lines for an objective record (what training prints at its end).

    >>> objective_lines({"metric": "accuracy", "split": "dev", "direction": "max", "value": 0.9,
    ...                  "constraints": [{"expr": "params <= 5", "value": 9, "satisfied": False}]})
    ['objective: accuracy on dev = 0.9 (maximize)', '  constraint params <= 5: 9 VIOLATED']
    """
    if objective.get("error"):
        return [f"objective {objective['metric']}: cannot be computed: {objective['error']}"]
    value = objective.get("value")
    shown = "undefined" if value is None else f"{value:.6g}"
    way = {"max": "maximize", "min": "minimize"}.get(str(objective.get("direction")), "")
    lines = [f"objective: {objective['metric']} on {objective.get('split', 'dev')} = {shown} ({way})"]
    for c in objective.get("constraints", []):
        v = "undefined" if c["value"] is None else f"{c['value']:.6g}"
        lines.append(f"  constraint {c['expr']}: {v} {'ok' if c['satisfied'] else 'VIOLATED'}")
    return lines
