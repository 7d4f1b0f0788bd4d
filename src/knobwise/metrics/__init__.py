"""Measurement: the confusion-matrix family, aggregates and intervals, reports, latency,
predictions, and a run's objective (one metric to optimize, constraints to satisfy).

Example:
    >>> from knobwise.metrics import classification_metrics, resolve_metric
    >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["cat", "dog"])
    >>> resolve_metric(m, "per_class.dog.recall"), resolve_metric(m, "macro.f1")
    (0.5, 0.6666666666666666)
"""

from knobwise.metrics._aggregate import (
    AVERAGES,
    aggregate_rates,
    aggregate_tensors,
    bootstrap_intervals,
    confidence_intervals,
    wilson_interval,
)
from knobwise.metrics._basic import logits_metrics, split_metrics
from knobwise.metrics._confusion import batched_confusion, confusion_matrix
from knobwise.metrics._family import classification_metrics
from knobwise.metrics._latency import measure_latency
from knobwise.metrics._objective import (
    check_objective,
    check_objective_classes,
    objective_lines,
    resolve_metric,
    resolve_run_metric,
)
from knobwise.metrics._predictions import (
    Predictions,
    confidence_summary,
    hesitant_predictions,
    load_prediction_classes,
    load_predictions,
    save_predictions,
)
from knobwise.metrics._rates import (
    UndefinedMetricWarning,
    binary_rates,
    per_class_rates,
    rate_tensors,
)
from knobwise.metrics._report import classification_report, report_dict, report_text
from knobwise.metrics._report_intervals import (
    INTERVAL_COLUMNS,
    format_interval,
    interval_rows,
    intervals_text,
    split_intervals,
)

__all__ = [
    "AVERAGES",
    "Predictions",
    "UndefinedMetricWarning",
    "aggregate_rates",
    "aggregate_tensors",
    "batched_confusion",
    "binary_rates",
    "bootstrap_intervals",
    "check_objective",
    "check_objective_classes",
    "classification_metrics",
    "classification_report",
    "confidence_intervals",
    "confidence_summary",
    "confusion_matrix",
    "hesitant_predictions",
    "load_prediction_classes",
    "load_predictions",
    "logits_metrics",
    "measure_latency",
    "objective_lines",
    "per_class_rates",
    "rate_tensors",
    "report_dict",
    "report_text",
    "INTERVAL_COLUMNS",
    "format_interval",
    "interval_rows",
    "intervals_text",
    "split_intervals",
    "resolve_metric",
    "resolve_run_metric",
    "save_predictions",
    "split_metrics",
    "wilson_interval",
]
