"""Diagnosis: which knob to turn, and which examples are wrong.

Error decomposition (avoidable bias, bias, variance, data mismatch, overfitting to dev) with the
knobs for each problem, learning-curve and gradient-health findings, error analysis, suspected
mislabeled examples, near-duplicate (leakage) checks and the learning-rate range test.

Example:
    >>> from knobwise.diagnose import decompose
    >>> d = decompose(train=12.0, dev=13.0, human=0.0)
    >>> d.verdict, d.knobs[0].knob
    ('high bias', 'bigger network')
"""

from knobwise.diagnose._advice import PROBLEMS, Knob, knobs_for, list_problems
from knobwise.diagnose._attributes import (
    attribute_examples,
    attribute_lines,
    permutation_importance,
    run_attribute_analysis,
)
from knobwise.diagnose._curves import CurveFinding, diagnose_curves, read_history
from knobwise.diagnose._decompose import GAP_KEYS, Decomposition, check_error, decompose
from knobwise.diagnose._error_analysis import (
    DEFAULT_TAGS,
    EXPORT_FIELDS,
    analyze_errors,
    export_errors,
    tag_shares,
)
from knobwise.diagnose._gradients import GRAD_PREFIX, GradientFinding, diagnose_gradients, gradient_table
from knobwise.diagnose._label_issues import (
    LabelIssues,
    cluster_disagreement,
    cluster_majority,
    confident_learning,
    find_label_issues,
    out_of_fold_proba,
)
from knobwise.diagnose._lr_find import LRFindResult, lr_find, plot_lr_find, smooth, suggest_lr
from knobwise.diagnose._run import diagnose_run, run_errors

__all__ = [
    "DEFAULT_TAGS",
    "EXPORT_FIELDS",
    "GAP_KEYS",
    "GRAD_PREFIX",
    "PROBLEMS",
    "CurveFinding",
    "Decomposition",
    "GradientFinding",
    "Knob",
    "LRFindResult",
    "LabelIssues",
    "analyze_errors",
    "attribute_examples",
    "attribute_lines",
    "permutation_importance",
    "run_attribute_analysis",
    "check_error",
    "cluster_disagreement",
    "cluster_majority",
    "confident_learning",
    "decompose",
    "diagnose_curves",
    "diagnose_gradients",
    "diagnose_run",
    "export_errors",
    "find_label_issues",
    "gradient_table",
    "knobs_for",
    "list_problems",
    "lr_find",
    "out_of_fold_proba",
    "plot_lr_find",
    "read_history",
    "run_errors",
    "smooth",
    "suggest_lr",
    "tag_shares",
]
