"""Measurement: per-split loss, accuracy and error.

Example:
    >>> from knobwise.metrics import split_metrics
"""

from knobwise.metrics._basic import split_metrics

__all__ = ["split_metrics"]
