"""Error decomposition: avoidable bias, bias, variance, data mismatch, overfitting to dev.

All numbers are errors in percent; every gap is in percentage points (pp):

- avoidable bias = training error − human-level error
- bias = training error − Bayes error
- variance = dev error − training error, or train-dev error − training error with a train-dev set
- data mismatch = dev error − train-dev error (only with a train-dev set)
- overfitting to dev = test error − dev error

A gap is *high* when it exceeds the tolerance (1 pp by default). The verdict is built from the
high gaps; the focus is the first of them in the order bias → variance → data mismatch →
overfitting to dev (fix bias before variance), and the knobs are that problem's knobs.

Example:
    >>> d = decompose(train=1.0, dev=12.0, human=0.5)
    >>> d.variance, d.verdict, d.focus
    (11.0, 'high variance', 'variance')
    >>> decompose(train=12.0, dev=20.0, human=0.0).verdict
    'high bias and high variance'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from knobwise.diagnose._advice import Knob, knobs_for
from knobwise.errors import ConfigError

__all__ = ["Decomposition", "decompose", "check_error", "GAP_KEYS"]

#: The gaps, in the order their problems are fixed.
GAP_KEYS = ("avoidable_bias", "bias", "variance", "data_mismatch", "overfitting_to_dev")
_PROBLEM = {
    "avoidable_bias": "bias",
    "bias": "bias",
    "variance": "variance",
    "data_mismatch": "data_mismatch",
    "overfitting_to_dev": "overfitting_to_dev",
}
_VERDICT = {
    "bias": "high bias",
    "label_noise": "high unavoidable bias (human-level error far above Bayes error)",
    "variance": "high variance",
    "data_mismatch": "data mismatch",
    "overfitting_to_dev": "overfitting to the dev set",
}


@dataclass
class Decomposition:
    """The result of :func:`decompose`; ``to_dict`` gives the JSON form of ``knobwise diagnose``."""

    errors: dict[str, float | None]
    avoidable_bias: float | None
    bias: float | None
    variance: float | None
    data_mismatch: float | None
    overfitting_to_dev: float | None
    tolerance: float
    high: list[str]
    verdict: str
    focus: str | None
    knobs: list[Knob]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the gaps (pp or None), ``high``, ``verdict``, ``focus``, ``knobs`` and inputs."""
        out: dict[str, Any] = {k: getattr(self, k) for k in GAP_KEYS}
        out.update(
            high=list(self.high),
            verdict=self.verdict,
            focus=self.focus,
            knobs=[k.to_dict() for k in self.knobs],
            tolerance=self.tolerance,
            errors=dict(self.errors),
            notes=list(self.notes),
        )
        return out


def check_error(value: float | None, name: str) -> float | None:
    """``value`` as a float in [0, 100], or a :class:`ConfigError` naming ``name``.

    >>> check_error(2.5, "--dev-error")
    2.5
    >>> check_error(-1, "--dev-error")
    Traceback (most recent call last):
    ...
    knobwise.errors.ConfigError: --dev-error must be an error in percent in [0, 100], got -1
    """
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or v > 100.0:
        raise ConfigError(f"{name} must be an error in percent in [0, 100], got {value:g}")
    return v


def _gap(a: float | None, b: float | None) -> float | None:
    # Rounded so that 2.0 - 1.0 compares as exactly 1.0 against the tolerance.
    return None if a is None or b is None else round(a - b, 9)


def decompose(
    *,
    train: float | None = None,
    dev: float | None = None,
    train_dev: float | None = None,
    test: float | None = None,
    human: float | None = None,
    bayes: float | None = None,
    tolerance: float = 1.0,
    config: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> Decomposition:
    """Decompose errors (percent) into gaps (pp), judge them against ``tolerance`` and pick knobs.

    Each gap is computed only when its inputs are given. ``config`` (a run's config as a mapping)
    drops knobs that are already turned. ``names`` maps each input to how the user gave it (flag
    names), for error messages.

    >>> d = decompose(train=12.0, dev=13.0, human=0.0)
    >>> d.avoidable_bias, d.variance, d.high, d.focus
    (12.0, 1.0, ['avoidable_bias'], 'bias')
    >>> decompose(train=1.0, dev=2.0, human=0.0).verdict
    'well trained'
    """
    label = {
        "train": "--train-error",
        "dev": "--dev-error",
        "train_dev": "--train-dev-error",
        "test": "--test-error",
        "human": "--human-error",
        "bayes": "--bayes-error",
    }
    label.update(names or {})
    given = {"train": train, "train_dev": train_dev, "dev": dev, "test": test, "human": human, "bayes": bayes}
    errors = {k: check_error(v, label[k]) for k, v in given.items()}
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ConfigError(f"--tolerance must be >= 0 percentage points, got {tolerance:g}")
    for needs, what in (("dev", "train"), ("train_dev", "train"), ("test", "dev")):
        if errors[needs] is not None and errors[what] is None:
            raise ConfigError(
                f"{label[needs]} needs {label[what]} as well (the gap between them is what counts)"
            )
    tr, dv, td, te = errors["train"], errors["dev"], errors["train_dev"], errors["test"]
    gaps: dict[str, float | None] = {
        "avoidable_bias": _gap(tr, errors["human"]),
        "bias": _gap(tr, errors["bayes"]),
        "variance": _gap(td, tr) if td is not None else _gap(dv, tr),
        "data_mismatch": _gap(dv, td),
        "overfitting_to_dev": _gap(te, dv),
    }
    high = [k for k in GAP_KEYS if gaps[k] is not None and gaps[k] > tolerance]  # type: ignore[operator]
    # Bias against Bayes error that is not avoidable bias (training error is at human level) sits in
    # the gap between human-level and Bayes error: the labels or the inputs, not the model.
    at_human_level = gaps["avoidable_bias"] is not None and "avoidable_bias" not in high
    problem = {**_PROBLEM, "bias": "label_noise" if at_human_level else "bias"}
    problems = list(dict.fromkeys(problem[k] for k in high))
    notes: list[str] = []
    bias_judged = gaps["avoidable_bias"] is not None or gaps["bias"] is not None
    if tr is not None and not bias_judged:
        notes.append("bias not judged: give the human-level error (--human-error or evaluate.human_error)")
    if errors["human"] is not None and errors["bayes"] is not None and errors["human"] < errors["bayes"]:
        notes.append("human-level error is below the Bayes error, which is impossible: check both numbers")
    if "label_noise" in problems:
        notes.append("training error is at human level but well above the Bayes error: clean the data")
    focus: str | None = problems[0] if problems else None
    if problems:
        verdict = " and ".join(_VERDICT[p] for p in problems)
    else:
        verdict = "well trained" if bias_judged or tr is None else "no high variance (bias not judged)"
    knobs = knobs_for(focus, config) if focus is not None else []
    return Decomposition(
        errors=errors,
        tolerance=tolerance,
        high=high,
        verdict=verdict,
        focus=focus,
        knobs=knobs,
        notes=notes,
        **gaps,  # type: ignore[arg-type]
    )
