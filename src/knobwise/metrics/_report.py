"""The classification report, like scikit-learn's, with specificity and NPV columns.

Built from a split's metrics (:func:`classification_metrics`), so the report and
``metrics.json`` never disagree. Undefined (0/0) values are ``None`` in the dict and ``n/a`` in
the text, never 0.

Example:
    >>> from knobwise.metrics import classification_metrics
    >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])
    >>> report_dict(m)["b"]["recall"], report_dict(m)["accuracy"]
    (0.5, 0.6666666666666666)
    >>> print(report_text(m).splitlines()[0].split())
    ['precision', 'recall', 'f1-score', 'specificity', 'npv', 'support']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from knobwise.metrics._family import classification_metrics
from knobwise.metrics._report_intervals import intervals_text

__all__ = ["REPORT_COLUMNS", "report_dict", "report_text", "classification_report"]

#: (column in the report, rate in the metrics)
REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1-score", "f1"),
    ("specificity", "specificity"),
    ("npv", "npv"),
)


def _row(rates: dict[str, Any], support: int) -> dict[str, Any]:
    out = {col: rates.get(rate) for col, rate in REPORT_COLUMNS}
    out["support"] = support
    return out


def report_dict(metrics: dict[str, Any]) -> dict[str, Any]:
    """``{class: {precision, recall, f1-score, specificity, npv, support}, "accuracy": x,
    "macro avg": {...}, "weighted avg": {...}}`` (scikit-learn's ``output_dict`` layout)."""
    out: dict[str, Any] = {}
    for cls, rates in metrics["per_class"].items():
        out[cls] = _row(rates, int(rates["p"]))
    out["accuracy"] = metrics["accuracy"]
    out["macro avg"] = _row(metrics["macro"], int(metrics["n"]))
    out["weighted avg"] = _row(metrics["weighted"], int(metrics["n"]))
    return out


def _fmt(v: Any, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def report_text(metrics: dict[str, Any], digits: int = 2, intervals: float | None = None) -> str:
    """The report as aligned text (scikit-learn's layout plus specificity and npv); with
    ``intervals`` (a level, 0.95) followed by every rate's interval and n
    (:func:`~knobwise.metrics.intervals_text`)."""
    d = report_dict(metrics)
    names = list(metrics["per_class"])
    width = max([len("weighted avg"), *(len(n) for n in names)])
    cols = [c for c, _ in REPORT_COLUMNS]
    colw = max(len(c) for c in cols) + 1
    header = " " * width + "".join(f"{c:>{colw}}" for c in cols) + f"{'support':>{colw - 2}}"
    lines = [header, ""]

    def line(label: str, row: dict[str, Any]) -> str:
        cells = "".join(f"{_fmt(row[c], digits):>{colw}}" for c in cols)
        return f"{label:>{width}}{cells}{row['support']:>{colw - 2}}"

    lines += [line(n, d[n]) for n in names]
    lines.append("")
    acc_cells = [""] * len(cols)
    acc_cells[2] = _fmt(d["accuracy"], digits)  # under f1-score, as scikit-learn places it
    lines.append(
        f"{'accuracy':>{width}}" + "".join(f"{c:>{colw}}" for c in acc_cells) + f"{metrics['n']:>{colw - 2}}"
    )
    lines.append(line("macro avg", d["macro avg"]))
    lines.append(line("weighted avg", d["weighted avg"]))
    text = "\n".join(lines) + "\n"
    if intervals is not None:
        text += "\n" + intervals_text(metrics, intervals, digits)
    return text


def classification_report(
    y_true: Any, y_pred: Any, classes: Sequence[str], *, digits: int = 2, output_dict: bool = False
) -> str | dict[str, Any]:
    """scikit-learn's ``classification_report`` with specificity and NPV, from labels.

    >>> r = classification_report([0, 1], [0, 0], ["a", "b"], output_dict=True)
    >>> r["a"]["recall"], r["b"]["precision"] is None
    (1.0, True)
    """
    m = classification_metrics(y_true, y_pred, classes)
    return report_dict(m) if output_dict else report_text(m, digits)
