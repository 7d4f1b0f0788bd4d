"""The ``evaluate:`` section: the single optimizing metric and the satisficing constraints."""

from __future__ import annotations

from pydantic import Field

from knobwise.config._augment import TTAConfig
from knobwise.config._base import Section


class EvaluateConfig(Section):
    """One number to optimize (``metric``), constraints to satisfy (``"latency_ms <= 100"``)."""

    metric: str = "accuracy"
    constraints: list[str] = Field(default_factory=list)
    tta: TTAConfig | None = Field(None, description="test-time augmentation: {flips: true, shifts: 1}")
