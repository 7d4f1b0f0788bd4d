"""Names of everything an objective can read: splits, counts, rates and their aliases, F-beta,
and the run-wide measurements (latency, model size). Pure Python, below the config, so that the
config can validate ``evaluate.metric`` without importing the metrics (torch) package.

Example:
    >>> canonical_rate("TPR"), parse_beta("f0.5"), beta_key(2.0)
    ('recall', 0.5, 'f2')
"""

from __future__ import annotations

import math
import re

__all__ = [
    "SPLITS",
    "COUNT_NAMES",
    "RATE_NAMES",
    "PROPORTIONS",
    "RATE_ALIASES",
    "RUN_MEASURES",
    "LATENCY_NAMES",
    "beta_key",
    "parse_beta",
    "canonical_rate",
]

#: The splits of a run, in their usual order (the one place they are named).
SPLITS: tuple[str, ...] = ("train", "train_dev", "dev", "test")
#: The counts, in the order they appear in a per-class dict.
COUNT_NAMES: tuple[str, ...] = ("tp", "fp", "tn", "fn", "p", "n", "pp", "pn")
#: The rates (F-beta for other betas are added as ``f2``, ``f0.5``, ...).
RATE_NAMES: tuple[str, ...] = (
    "prevalence", "accuracy", "precision", "fdr", "for", "npv", "recall", "fpr", "fnr",
    "specificity", "lr_plus", "lr_minus", "dor", "f1",
)  # fmt: skip
#: Rates that are proportions of a count (Wilson intervals apply), with (numerator, denominator).
PROPORTIONS: dict[str, tuple[str, str]] = {
    "prevalence": ("p", "all"),
    "accuracy": ("correct", "all"),
    "precision": ("tp", "pp"),
    "fdr": ("fp", "pp"),
    "for": ("fn", "pn"),
    "npv": ("tn", "pn"),
    "recall": ("tp", "p"),
    "fpr": ("fp", "n"),
    "fnr": ("fn", "p"),
    "specificity": ("tn", "n"),
}
#: Other names of the same rate (the methodology's vocabulary and scikit-learn's).
RATE_ALIASES: dict[str, str] = {
    "ppv": "precision",
    "tpr": "recall",
    "sensitivity": "recall",
    "hit_rate": "recall",
    "tnr": "specificity",
    "selectivity": "specificity",
    "fall_out": "fpr",
    "fallout": "fpr",
    "miss_rate": "fnr",
    "lr+": "lr_plus",
    "lr-": "lr_minus",
    "f1_score": "f1",
    "f1-score": "f1",
    "support": "p",
}

#: Run-wide measurements and where they live in metrics.json.
RUN_MEASURES: dict[str, tuple[str, str]] = {
    "latency_ms": ("latency", "median_ms"),
    "latency_p95_ms": ("latency", "p95_ms"),
    "latency_mean_ms": ("latency", "mean_ms"),
    "throughput": ("latency", "throughput_per_s"),
    "params": ("model", "params"),
    "size_mb": ("model", "size_mb"),
    "depth": ("model", "depth"),
}
LATENCY_NAMES = frozenset(k for k, (sec, _) in RUN_MEASURES.items() if sec == "latency")

_BETA = re.compile(r"^f(\d+(?:\.\d+)?)$")


def beta_key(beta: float) -> str:
    """The dict key of F-beta: ``f1``, ``f2``, ``f0.5``.

    >>> beta_key(2.0), beta_key(0.5)
    ('f2', 'f0.5')
    """
    if not beta > 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a positive number, got {beta}")
    return f"f{beta:g}"


def parse_beta(name: str) -> float | None:
    """The beta of an F-beta name (``f2`` → 2.0), or None for other names.

    >>> parse_beta("f0.5"), parse_beta("fpr")
    (0.5, None)
    """
    m = _BETA.match(name)
    if not m or float(m.group(1)) <= 0:
        return None
    return float(m.group(1))


def canonical_rate(name: str) -> str:
    """The canonical name of a rate or count (aliases resolved, lower case).

    >>> canonical_rate("TPR"), canonical_rate("selectivity")
    ('recall', 'specificity')
    """
    low = name.lower()
    return RATE_ALIASES.get(low, low)
