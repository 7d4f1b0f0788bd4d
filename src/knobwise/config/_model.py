"""The ``model:`` section: a zoo name or a Keras-style layer list, and the weight init."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from knobwise.config._base import Section

LayerSpec = str | dict[str, Any]


class ModelConfig(Section):
    """A model from the zoo (``name``) or built from ``layers``; ``options`` go to the zoo factory."""

    name: str | None = None
    layers: list[LayerSpec] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    init: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ModelConfig:
        if self.name is None and not self.layers:
            raise ValueError("model needs either model.name (a zoo model) or model.layers (a layer list)")
        if self.name is not None and self.layers:
            raise ValueError("model.name and model.layers are exclusive: give one of them")
        return self
