"""Selection: the best candidate by one optimizing expression, subject to constraints.

``select_candidates(rows, optimize, satisfy, direction)`` evaluates ``optimize`` for every row
(a dict with a ``"name"`` and columns), checks every ``satisfy`` constraint, and ranks: candidates
that satisfy all constraints first, best value first; then the ones that break a constraint, each
with the constraints it breaks. The winner is the best candidate that satisfies everything.

Example:
    >>> rows = [{"name": "a", "accuracy": 0.95, "latency_ms": 120},
    ...         {"name": "b", "accuracy": "93%", "latency_ms": 40}]
    >>> r = select_candidates(rows, "accuracy", ["latency_ms <= 100"])
    >>> r.winner, r.ranking[1].violations
    ('b', ['latency_ms <= 100 (got 120)'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from knobwise.errors import ConfigError
from knobwise.objective import (
    RATE_NAMES,
    Constraint,
    canonical_rate,
    evaluate_expression,
    expression_direction,
    names_in,
    parse_constraint,
    parse_expression,
    parse_number,
)
from knobwise.registry import closest

__all__ = ["Candidate", "SelectResult", "select_candidates", "resolve_column", "columns_of"]


@dataclass
class Candidate:
    """One ranked candidate: its value of the optimizing expression and the constraints it breaks."""

    name: str
    value: float | None
    satisfied: bool
    violations: list[str] = field(default_factory=list)
    values: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "satisfied": self.satisfied,
            "violations": list(self.violations),
            "constraint_values": dict(self.values),
        }


@dataclass
class SelectResult:
    """The outcome of a selection: the ranking (best first) and the winner (None if nobody
    satisfies every constraint)."""

    optimize: str
    direction: str
    constraints: list[str]
    ranking: list[Candidate]

    @property
    def winner(self) -> str | None:
        best = self.ranking[0] if self.ranking else None
        return best.name if best is not None and best.satisfied and best.value is not None else None

    def to_dict(self) -> dict[str, Any]:
        """``{"winner", "optimize", "direction", "constraints", "ranking": [{"name", "value",
        "satisfied", "violations", "constraint_values"}]}``."""
        return {
            "winner": self.winner,
            "optimize": self.optimize,
            "direction": self.direction,
            "constraints": list(self.constraints),
            "ranking": [c.to_dict() for c in self.ranking],
        }


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every column name of ``rows``, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            seen.setdefault(k, None)
    return list(seen)


def _missing(what: str, name: str, columns: list[str]) -> ConfigError:
    """The error of a missing column: the closest few names (never the whole table, which for
    runs holds hundreds of columns) and how to list them all."""
    near = closest(name, columns)
    if not near:
        near = [c for c in columns if c.split(".")[-1] == name.split(".")[-1]][:3]
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    if len(columns) <= 12:
        listing = f"columns: {', '.join(columns)}"
    else:
        listing = f"{len(columns)} columns; list them with knobwise select TABLE --columns"
    return ConfigError(f"{what}: no column {name!r}{hint} ({listing})")


def resolve_column(name: str, columns: Sequence[str]) -> str:
    """The column a name reads: itself, else ``SPLIT.RATE`` (or a rate's alias) read as the macro
    average ``SPLIT.macro.RATE``; unchanged when neither exists.

    >>> resolve_column("dev.precision", ["dev.macro.precision"])
    'dev.macro.precision'
    >>> resolve_column("dev.tpr", ["dev.macro.recall"]), resolve_column("x", [])
    ('dev.macro.recall', 'x')
    """
    if name in columns:
        return name
    parts = name.split(".")
    if len(parts) in (1, 2) and canonical_rate(parts[-1]) in RATE_NAMES:
        macro = ".".join([*parts[:-1], "macro", canonical_rate(parts[-1])])
        if macro in columns:
            return macro
    return name


def _numeric_column(
    what: str, name: str, rows: Sequence[dict[str, Any]], labels: list[str]
) -> list[float | None]:
    """The column ``name`` as numbers (``96%`` → 0.96, blank → None); text is a ConfigError."""
    out: list[float | None] = []
    for label, row in zip(labels, rows, strict=True):
        raw = row.get(name)
        try:
            out.append(parse_number(raw))
        except (TypeError, ValueError):
            raise ConfigError(
                f"{what}: column {name!r} is not numeric (candidate {label!r} has {raw!r})"
            ) from None
    return out


def _fmt(v: float | None) -> str:
    return "missing" if v is None else f"{v:.6g}"


def select_candidates(
    rows: list[dict[str, Any]],
    optimize: str,
    satisfy: Sequence[str] = (),
    direction: str | None = None,
) -> SelectResult:
    """Rank ``rows`` by ``optimize`` under the ``satisfy`` constraints.

    ``direction`` is ``"max"``/``"min"``, or None to follow the names (accuracy maximizes,
    latency minimizes, ...). A missing column, a malformed expression and a constraint on a
    non-numeric column are :class:`ConfigError` s.
    """
    if direction not in (None, "max", "min"):
        raise ConfigError(f"direction must be 'max' or 'min', got {direction!r}")
    if not rows:
        raise ConfigError("select: no candidates (the table has no rows)")
    node = parse_expression(optimize, "--optimize")
    constraints: list[Constraint] = [parse_constraint(s, "--satisfy") for s in satisfy]
    labels = [str(r.get("name") or f"row {i + 1}") for i, r in enumerate(rows)]
    columns = columns_of(rows)

    def table(what: str, names: list[str]) -> dict[str, list[float | None]]:
        resolved = {n: resolve_column(n, columns) for n in names}
        for n, col in resolved.items():
            if col not in columns:
                raise _missing(what, n, columns)
        return {n: _numeric_column(what, col, rows, labels) for n, col in resolved.items()}

    opt_cols = table(f"--optimize {optimize!r}", names_in(node))
    con_cols = [table(f"--satisfy {c.text!r}", names_in(c.expr)) for c in constraints]
    resolved = direction or expression_direction(node)

    candidates = []
    for i in range(len(rows)):
        value = evaluate_expression(node, lambda n, i=i: opt_cols[n][i])  # type: ignore[misc]
        violations, values = [], {}
        for c, cols in zip(constraints, con_cols, strict=True):
            v = evaluate_expression(c.expr, lambda n, i=i, cols=cols: cols[n][i])  # type: ignore[misc]
            values[c.text] = v
            if not c.check(v):
                violations.append(f"{c.text} (got {_fmt(v)})")
        candidates.append(Candidate(labels[i], value, not violations, violations, values))

    sign = -1.0 if resolved == "max" else 1.0
    ranked = sorted(
        candidates,
        key=lambda c: (not c.satisfied, c.value is None, sign * c.value if c.value is not None else 0.0),
    )
    return SelectResult(optimize, resolved, [c.text for c in constraints], ranked)
