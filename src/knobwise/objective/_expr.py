"""Metric expressions and constraints: ``mean(dev.recall, dev.precision)``, ``latency_ms <= 100``.

An expression is a column or metric path (``dev.accuracy``, ``macro.f1``, a quoted ``"my col"``),
a number, or a call of ``mean``, ``hmean``, ``min``, ``max`` (any number of arguments) or
``fbeta(precision, recall, beta)``. A constraint is ``EXPR OP VALUE`` with OP one of
``< <= > >=``; VALUE may be written as a percentage (``96%`` is 0.96).

Direction follows the name: accuracy, ``*_score``, precision, recall, F-scores, specificity,
NPV, throughput maximize; error, loss, latency, ``*_ms``, FPR/FNR/FDR/FOR, parameters and size
minimize.

Example:
    >>> e = parse_expression("hmean(a, b)")
    >>> evaluate_expression(e, {"a": 0.5, "b": 1.0}.get)
    0.6666666666666666
    >>> c = parse_constraint("latency_ms <= 100")
    >>> c.op, c.value, c.check(80.0)
    ('<=', 100.0, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from knobwise.errors import ConfigError

__all__ = [
    "Name",
    "Number",
    "Call",
    "Node",
    "Constraint",
    "FUNCTIONS",
    "parse_expression",
    "parse_constraint",
    "parse_number",
    "evaluate_expression",
    "names_in",
    "metric_direction",
    "expression_direction",
]

FUNCTIONS = ("mean", "hmean", "min", "max", "fbeta")
OPS = ("<=", ">=", "<", ">")
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?%?)(?![A-Za-z_])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<quoted>"[^"]*"|'[^']*'|`[^`]*`)
  | (?P<punct>[(),])
  )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Name:
    """A column or metric path."""

    name: str


@dataclass(frozen=True)
class Number:
    """A literal number (a beta, a weight)."""

    value: float


@dataclass(frozen=True)
class Call:
    """``func(args...)``."""

    func: str
    args: tuple[Node, ...]


Node = Name | Number | Call


def _fail(what: str, text: str, pos: int, problem: str) -> ConfigError:
    return ConfigError(f"{what} {text!r}: {problem} at column {pos + 1} ({text[:pos]}>>{text[pos:]})")


def parse_number(value: Any) -> float | None:
    """A cell as a number: ``96%`` → 0.96, blank/``nan``/None → None; anything else a ``ValueError``.

    >>> parse_number("96%"), parse_number(" 3 "), parse_number("")
    (0.96, 3.0, None)
    """
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        return None
    if isinstance(value, (int, float)):
        return None if math.isnan(float(value)) else float(value)
    s = str(value).strip()
    if s == "" or s.lower() in ("nan", "null", "none", "n/a", "na", "-"):
        return None
    scale = 1.0
    if s.endswith("%"):
        s, scale = s[:-1].strip(), 0.01
    v = float(s)  # raises ValueError for text
    return None if math.isnan(v) else v * scale


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.text, self.what = text, what
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                start = pos + len(text[pos:]) - len(text[pos:].lstrip())
                raise _fail(what, text, start, f"unexpected {text[start]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, value: str) -> None:
        kind, tok, pos = self.peek()
        if tok != value or kind != "punct":
            got = "the end" if kind == "end" else repr(tok)
            raise _fail(self.what, self.text, pos, f"expected {value!r}, got {got}")
        self.i += 1

    def expr(self) -> Node:
        kind, tok, pos = self.peek()
        if kind == "number":
            self.i += 1
            v = parse_number(tok)
            return Number(v if v is not None else math.nan)
        if kind == "quoted":
            self.i += 1
            return Name(tok[1:-1])
        if kind == "name":
            self.i += 1
            if self.peek()[1] != "(" or self.peek()[0] != "punct":
                return Name(tok)
            if tok.lower() not in FUNCTIONS:
                raise _fail(
                    self.what, self.text, pos, f"unknown function {tok!r} (allowed: {', '.join(FUNCTIONS)})"
                )
            self.take("(")
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.i += 1
                args.append(self.expr())
            self.take(")")
            func = tok.lower()
            if func == "fbeta" and len(args) != 3:
                raise _fail(
                    self.what,
                    self.text,
                    pos,
                    f"fbeta takes (precision, recall, beta), got {len(args)} arguments",
                )
            return Call(func, tuple(args))
        got = "the end" if kind == "end" else repr(tok)
        raise _fail(self.what, self.text, pos, f"expected a column, number or function, got {got}")


def parse_expression(text: str, what: str = "expression") -> Node:
    """Parse ``text``; a malformed one is a :class:`ConfigError` that shows where (``>>``).

    >>> parse_expression("fbeta(p, r, 2)")
    Call(func='fbeta', args=(Name(name='p'), Name(name='r'), Number(value=2.0)))
    """
    if not text or not text.strip():
        raise ConfigError(
            f"{what}: empty expression (give a column, or mean(a, b), hmean(...), min(...), "
            "fbeta(p, r, beta))"
        )
    p = _Parser(text, what)
    node = p.expr()
    kind, tok, pos = p.peek()
    if kind != "end":
        raise _fail(what, text, pos, f"unexpected {tok!r} after the expression")
    return node


def names_in(node: Node) -> list[str]:
    """The column/metric names an expression reads, in order, without repeats."""
    if isinstance(node, Name):
        return [node.name]
    if isinstance(node, Number):
        return []
    seen: dict[str, None] = {}
    for a in node.args:
        for n in names_in(a):
            seen.setdefault(n, None)
    return list(seen)


def evaluate_expression(node: Node, lookup: Callable[[str], float | None]) -> float | None:
    """The value of ``node`` with names looked up by ``lookup``; None if any part is undefined."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        return lookup(node.name)
    vals = [evaluate_expression(a, lookup) for a in node.args]
    if any(v is None for v in vals):
        return None
    xs = [float(v) for v in vals if v is not None]
    if node.func == "mean":
        return sum(xs) / len(xs)
    if node.func == "min":
        return min(xs)
    if node.func == "max":
        return max(xs)
    if node.func == "hmean":
        if any(x < 0 for x in xs):
            raise ConfigError(f"hmean of negative values {xs} is not defined")
        return 0.0 if any(x == 0 for x in xs) else len(xs) / sum(1 / x for x in xs)
    p, r, beta = xs  # fbeta
    b2 = beta * beta
    den = b2 * p + r
    return None if den == 0 else (1 + b2) * p * r / den


@dataclass(frozen=True)
class Constraint:
    """``expr op value``, e.g. ``latency_ms <= 100``."""

    text: str
    expr: Node
    op: str
    value: float

    def check(self, x: float | None) -> bool:
        """Whether ``x`` satisfies the constraint (an undefined value does not)."""
        if x is None:
            return False
        return {"<": x < self.value, "<=": x <= self.value, ">": x > self.value, ">=": x >= self.value}[
            self.op
        ]


def _find_op(text: str) -> tuple[int, str] | None:
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch in "<>=!":
            two = text[i : i + 2]
            if two in ("==", "!=", "=<", "=>") or (ch in "=!" and two not in OPS):
                return i, two if two in ("==", "!=", "=<", "=>") else ch
            return i, two if two in OPS else ch
    return None


def parse_constraint(text: str, what: str = "constraint") -> Constraint:
    """Parse ``EXPR OP VALUE`` (OP in ``< <= > >=``; VALUE a number or percentage).

    >>> parse_constraint("dev.accuracy >= 96%").value
    0.96
    """
    found = _find_op(text)
    if found is None:
        raise ConfigError(
            f"{what} {text!r}: expected EXPR OP VALUE with OP one of < <= > >= (e.g. 'latency_ms <= 100')"
        )
    pos, op = found
    if op not in OPS:
        raise _fail(what, text, pos, f"operator {op!r} is not allowed (use one of < <= > >=)")
    expr = parse_expression(text[:pos], what)
    rest = text[pos + len(op) :]
    raw = rest.strip()
    at = pos + len(op) + len(rest) - len(rest.lstrip())
    try:
        value = parse_number(raw)
    except ValueError:
        value = None
    if value is None:
        raise _fail(what, text, at, f"expected a number after {op!r}, got {raw!r}")
    return Constraint(text.strip(), expr, op, value)


_MAX_NAMES = {
    "accuracy", "precision", "recall", "f1", "specificity", "npv", "ppv", "tpr", "tnr", "sensitivity",
    "selectivity", "hit_rate", "lr_plus", "dor", "auc", "roc_auc", "score", "throughput",
    "throughput_per_s", "top1", "margin", "objective",
}  # fmt: skip
_MIN_NAMES = {
    "error", "loss", "latency", "latency_ms", "fdr", "for", "fpr", "fnr", "fall_out", "miss_rate",
    "lr_minus", "params", "size_mb", "depth", "duration_s", "time", "epochs",
}  # fmt: skip


def metric_direction(name: str) -> Literal["max", "min"]:
    """``"max"`` or ``"min"`` for a metric path, by its last part; a :class:`ConfigError` when the
    name does not tell (pass a direction explicitly then).

    >>> metric_direction("dev.macro.f1"), metric_direction("latency_p95_ms"), metric_direction("val_loss")
    ('max', 'min', 'min')
    """
    last = name.lower().rsplit(".", 1)[-1]
    if (
        last in _MAX_NAMES
        or last.endswith(("_score", "accuracy", "_acc"))
        or re.fullmatch(r"f\d+(\.\d+)?", last)
    ):
        return "max"
    if last in _MIN_NAMES or last.endswith(("_error", "_loss", "_ms", "_latency", "_seconds", "_mb")):
        return "min"
    if last.startswith(("throughput", "accuracy")):
        return "max"
    if last.startswith(("latency", "error", "loss")):
        return "min"
    raise ConfigError(
        f"cannot tell whether to maximize or minimize {name!r} from its name; "
        "say so explicitly (--maximize / --minimize, or evaluate.direction)"
    )


def expression_direction(node: Node) -> Literal["max", "min"]:
    """The direction of an expression: that of its names (fbeta maximizes); mixed directions are
    a :class:`ConfigError`.

    >>> expression_direction(parse_expression("hmean(dev.recall, test.precision)"))
    'max'
    """
    if isinstance(node, Call) and node.func == "fbeta":
        return "max"
    dirs = {n: metric_direction(n) for n in names_in(node)}
    if not dirs:
        raise ConfigError("an expression of numbers alone has no direction; name a column")
    if len(set(dirs.values())) > 1:
        mixed = ", ".join(f"{n} ({d}imize)" for n, d in dirs.items())
        raise ConfigError(
            f"the expression mixes directions: {mixed}; say which with --maximize or --minimize"
        )
    return next(iter(dirs.values()))
