"""Measurement and selection: the confusion-matrix family, reports, latency, predictions, and
"optimize one metric subject to constraints".

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
from knobwise.metrics._expr import (
    Constraint,
    evaluate_expression,
    expression_direction,
    metric_direction,
    names_in,
    parse_constraint,
    parse_expression,
    parse_number,
)
from knobwise.metrics._family import classification_metrics
from knobwise.metrics._latency import device_description, measure_latency
from knobwise.metrics._objective import (
    check_metric_path,
    check_objective,
    check_objective_classes,
    needs_latency,
    objective_lines,
    resolve_metric,
    resolve_run_metric,
    validate_objective,
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
    COUNT_NAMES,
    RATE_ALIASES,
    RATE_NAMES,
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
from knobwise.metrics._select import Candidate, SelectResult, select_candidates
from knobwise.metrics._tables import TABLE_LOADERS, flatten, load_table, register_table_loader, run_row

__all__ = [
    "AVERAGES",
    "COUNT_NAMES",
    "Candidate",
    "Constraint",
    "Predictions",
    "RATE_ALIASES",
    "RATE_NAMES",
    "SelectResult",
    "TABLE_LOADERS",
    "UndefinedMetricWarning",
    "aggregate_rates",
    "aggregate_tensors",
    "batched_confusion",
    "binary_rates",
    "bootstrap_intervals",
    "check_metric_path",
    "check_objective",
    "check_objective_classes",
    "classification_metrics",
    "classification_report",
    "confidence_intervals",
    "confidence_summary",
    "confusion_matrix",
    "device_description",
    "evaluate_expression",
    "expression_direction",
    "flatten",
    "hesitant_predictions",
    "load_prediction_classes",
    "load_predictions",
    "load_table",
    "logits_metrics",
    "measure_latency",
    "metric_direction",
    "names_in",
    "needs_latency",
    "objective_lines",
    "parse_constraint",
    "parse_expression",
    "parse_number",
    "per_class_rates",
    "rate_tensors",
    "register_table_loader",
    "report_dict",
    "report_text",
    "INTERVAL_COLUMNS",
    "format_interval",
    "interval_rows",
    "intervals_text",
    "split_intervals",
    "resolve_metric",
    "resolve_run_metric",
    "run_row",
    "save_predictions",
    "select_candidates",
    "split_metrics",
    "validate_objective",
    "wilson_interval",
]
