"""Diagnosis: which knob to turn, and which examples are wrong.

Error decomposition (avoidable bias, bias, variance, data mismatch, overfitting to dev) with the
knobs for each problem, learning-curve and gradient-health findings, error analysis, suspected
mislabeled examples, near-duplicate (leakage) checks, the learning-rate range test, and what the
network looks at (attribution maps through captum, first-layer filters, the surroundings check).

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
from knobwise.diagnose._attributions import (
    METHODS,
    attribute,
    conv_layer,
    has_conv_layer,
    list_methods,
    require_captum,
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
from knobwise.diagnose._explain import (
    TARGETS,
    WHICH,
    Explanation,
    black_baseline,
    explain_images,
    explain_split,
    load_image_files,
    objects_for,
    select_examples,
    to_pixels,
)
from knobwise.diagnose._explain_run import explain_run, load_for_explain
from knobwise.diagnose._filters import feature_maps, first_filters
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
from knobwise.diagnose._surroundings import (
    border_hint,
    border_mask,
    box_mask,
    mass_inside,
    read_boxes,
    read_masks,
    surroundings_verdict,
)
from knobwise.diagnose._words import error_words, for_people, problem_words

__all__ = [
    "error_words",
    "for_people",
    "problem_words",
    "METHODS",
    "TARGETS",
    "WHICH",
    "Explanation",
    "attribute",
    "conv_layer",
    "has_conv_layer",
    "list_methods",
    "require_captum",
    "black_baseline",
    "explain_images",
    "explain_split",
    "load_image_files",
    "objects_for",
    "select_examples",
    "to_pixels",
    "explain_run",
    "load_for_explain",
    "feature_maps",
    "first_filters",
    "border_hint",
    "border_mask",
    "box_mask",
    "mass_inside",
    "read_boxes",
    "read_masks",
    "surroundings_verdict",
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
