"""The words people read for the diagnosis's identifiers.

The diagnosis's JSON keeps its machine keys (``overfitting_to_dev``, ``lr_too_large``,
``train_dev``); the terminal and the report show these words instead, from this one table, so
``knobwise diagnose`` and the report say the same thing.

Example:
    >>> problem_words("overfitting_to_dev"), problem_words("lr_too_large")
    ('overfitting to the dev set', 'learning rate too large')
    >>> error_words("train_dev"), problem_words("something_new")
    ('train-dev', 'something new')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["problem_words", "error_words", "for_people"]

#: A gap (``GAP_KEYS``) or problem (``PROBLEMS``, learning curves, gradients) in words.
_PROBLEMS = {
    "avoidable_bias": "avoidable bias",
    "bias": "bias",
    "label_noise": "label noise (training error at human level, far above the Bayes error)",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "overfitting_to_dev": "overfitting to the dev set",
    "overfitting": "overfitting",
    "growing_gap": "growing train/dev gap",
    "lr_too_large": "learning rate too large",
    "lr_too_small": "learning rate too small",
    "vanishing_gradients": "vanishing gradients",
    "exploding_gradients": "exploding gradients",
}
#: The inputs of the decomposition (a split's error, human-level, Bayes) in words.
_ERRORS = {"train_dev": "train-dev", "human": "human-level", "bayes": "Bayes"}


def problem_words(key: str) -> str:
    """A gap or problem identifier as people read it (unknown ones with spaces for underscores)."""
    return _PROBLEMS.get(key, key.replace("_", " "))


def error_words(key: str) -> str:
    """An error input (``train``, ``train_dev``, ``human``, ``bayes``, ...) as people read it."""
    return _ERRORS.get(key, key.replace("_", " "))


def for_people(diagnosis: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``diagnose_run``/``decompose`` dict for people to read: the gap keys, ``focus``,
    ``high``, the ``errors`` keys and each finding's ``problem`` in words (values unchanged).

    >>> d = {"overfitting_to_dev": 6.0, "focus": "overfitting_to_dev", "high": ["overfitting_to_dev"],
    ...      "errors": {"train_dev": 1.2}, "curves": [{"problem": "lr_too_small", "epoch": 3}]}
    >>> for_people(d)  # doctest: +NORMALIZE_WHITESPACE
    {'overfitting to the dev set': 6.0, 'focus': 'overfitting to the dev set',
     'high': ['overfitting to the dev set'], 'errors': {'train-dev': 1.2},
     'curves': [{'problem': 'learning rate too small', 'epoch': 3}]}
    """
    out: dict[str, Any] = {}
    for key, value in diagnosis.items():
        if key in _PROBLEMS:
            out[problem_words(key)] = value
        elif key == "focus" and isinstance(value, str):
            out[key] = problem_words(value)
        elif key == "high" and isinstance(value, list):
            out[key] = [problem_words(v) for v in value]
        elif key == "errors" and isinstance(value, Mapping):
            out[key] = {error_words(k): v for k, v in value.items()}
        elif key in ("curves", "gradients") and isinstance(value, list):
            out[key] = [
                {**f, "problem": problem_words(f["problem"])} if isinstance(f.get("problem"), str) else f
                for f in value
            ]
        else:
            out[key] = value
    return out
