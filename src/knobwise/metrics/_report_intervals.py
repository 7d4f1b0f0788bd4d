"""The classification report's intervals: every rate with its 95% interval and its n.

A rate measured on 40 examples and one measured on 4,000 print the same way in a plain report.
Here each cell carries the interval and the number of examples the rate is a proportion of:
precision of PP (predicted positive), recall of P (actual positive, the support), specificity of
N, NPV of PN, accuracy of all examples — Wilson score intervals for those; F1 (of TP + FP + FN
examples) and the macro / weighted / harmonic-mean averages (of all examples) get percentile
bootstrap intervals over examples.

The intervals are those of :func:`~knobwise.metrics.confidence_intervals` (``evaluate --ci``):
a split's ``ci`` entry when it holds one at the asked level, else computed from the split's
confusion matrix (the examples' (true, predicted) pairs are exactly its cells, so the bootstrap
resamples the same examples).

Example:
    >>> from knobwise.metrics import classification_metrics
    >>> m = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], ["a", "b"])
    >>> rows = interval_rows(m, n_boot=200)
    >>> rows[1]["label"], rows[1]["cells"]["recall"]["n"], rows[1]["cells"]["precision"]["n"]
    ('b', 3, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from knobwise.metrics._aggregate import confidence_intervals

__all__ = ["INTERVAL_COLUMNS", "split_intervals", "interval_rows", "intervals_text", "format_interval"]

#: (report column, rate in the metrics, the count the rate is a proportion of; None: see below)
INTERVAL_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("precision", "precision", "pp"),
    ("recall", "recall", "p"),
    ("f1-score", "f1", None),
    ("specificity", "specificity", "n"),
    ("npv", "npv", "pn"),
)

_AVERAGES = (("macro avg", "macro"), ("weighted avg", "weighted"), ("hmean", "hmean"))


def split_intervals(
    metrics: dict[str, Any], level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The ``ci`` entry of one split's metrics at ``level`` (computed from its confusion matrix
    when the split does not hold one at that level)."""
    ci = metrics.get("ci")
    if isinstance(ci, dict) and ci.get("level") == level:
        return ci
    cm = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    k = cm.shape[0]
    counts = cm.ravel()
    y_true = torch.from_numpy(np.repeat(np.repeat(np.arange(k), k), counts))
    y_pred = torch.from_numpy(np.repeat(np.tile(np.arange(k), k), counts))
    return confidence_intervals(
        y_true, y_pred, metrics["classes"], metrics["per_class"], level=level, n_boot=n_boot, seed=seed
    )


def _cell(value: Any, interval: Any, n: int | None) -> dict[str, Any]:
    lo, hi = interval if isinstance(interval, list | tuple) and len(interval) == 2 else (None, None)
    return {"value": value, "low": lo, "high": hi, "n": n}


def interval_rows(
    metrics: dict[str, Any], level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per class, then accuracy and the averages: ``{"label", "cells": {column: {value,
    low, high, n}}}`` (accuracy's row has the single cell ``accuracy``)."""
    ci = split_intervals(metrics, level, n_boot, seed)
    rows: list[dict[str, Any]] = []
    for cls, rates in metrics["per_class"].items():
        c_ci = ci["per_class"].get(str(cls), {})
        cells = {}
        for col, rate, count in INTERVAL_COLUMNS:
            n = int(rates["tp"] + rates["fp"] + rates["fn"]) if count is None else int(rates[count])
            cells[col] = _cell(rates.get(rate), c_ci.get(rate), n)
        rows.append({"label": str(cls), "cells": cells})
    total = int(metrics["n"])
    rows.append(
        {"label": "accuracy", "cells": {"accuracy": _cell(metrics["accuracy"], ci["accuracy"], total)}}
    )
    for label, how in _AVERAGES:
        agg, agg_ci = metrics.get(how) or {}, ci.get(how) or {}
        cells = {col: _cell(agg.get(rate), agg_ci.get(rate), total) for col, rate, _ in INTERVAL_COLUMNS}
        rows.append({"label": label, "cells": cells})
    return rows


def format_interval(cell: dict[str, Any], digits: int = 3) -> str:
    """``0.912 [0.871, 0.941] n=170``; ``n/a`` parts for undefined values.

    >>> format_interval({"value": 0.5, "low": 0.2, "high": 0.8, "n": 10}, 2)
    '0.50 [0.20, 0.80] n=10'
    """

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    interval = "[n/a]" if cell["low"] is None else f"[{f(cell['low'])}, {f(cell['high'])}]"
    return f"{f(cell['value'])} {interval} n={cell['n']}"


def intervals_text(metrics: dict[str, Any], level: float = 0.95, digits: int = 3, n_boot: int = 1000) -> str:
    """The report's rates with their intervals and n, as aligned text."""
    rows = interval_rows(metrics, level, n_boot)
    cols = [c for c, _, _ in INTERVAL_COLUMNS]
    text = {r["label"]: {c: format_interval(cell, digits) for c, cell in r["cells"].items()} for r in rows}
    width = max(len(r["label"]) for r in rows)
    colw = max(len(c) for c in cols)
    colw = max(colw, *(len(v) for t in text.values() for v in t.values())) + 2
    pct = f"{100 * level:g}%"
    lines = [
        f"{pct} intervals and n (the examples each rate is a proportion of): Wilson for precision, recall,",
        "specificity, npv and accuracy; percentile bootstrap over examples for f1-score and the averages",
        " " * width + "".join(f"{c:>{colw}}" for c in cols),
    ]
    for r in rows:
        cells = text[r["label"]]
        if r["label"] == "accuracy":
            lines.append(f"{'accuracy':>{width}}{cells['accuracy']:>{colw}}")
            continue
        lines.append(f"{r['label']:>{width}}" + "".join(f"{cells[c]:>{colw}}" for c in cols))
    return "\n".join(lines) + "\n"
