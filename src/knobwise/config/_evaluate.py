"""The ``evaluate:`` section: the single optimizing metric and the satisficing constraints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from knobwise.config._augment import TTAConfig
from knobwise.config._base import Section
from knobwise.errors import ConfigError
from knobwise.objective import validate_objective


class EvaluateConfig(Section):
    """One number to optimize (``metric``), constraints to satisfy (``"latency_ms <= 100"``)."""

    metric: str = "accuracy"
    constraints: list[str] = Field(default_factory=list)
    human_error: float | None = Field(
        None, ge=0.0, le=100.0, description="human-level error in percent (proxy for Bayes error); diagnose"
    )
    bayes_error: float | None = Field(None, ge=0.0, le=100.0, description="Bayes (optimal) error in percent")
    direction: Literal["max", "min"] | None = Field(
        None, description="maximize or minimize metric (default: from its name, e.g. accuracy max, loss min)"
    )
    tta: TTAConfig | None = Field(None, description="test-time augmentation: {flips: true, shifts: 1}")

    @model_validator(mode="after")
    def _check_objective(self) -> EvaluateConfig:
        try:
            validate_objective(self.metric, self.constraints, self.direction)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None  # pydantic wraps it; the message names the key
        return self
