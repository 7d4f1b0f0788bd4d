"""The ``model:`` section: a zoo name or a Keras-style layer list, the weight init, and transfer
learning (``pretrained`` weights, ``freeze``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from knobwise.config._base import Section

LayerSpec = str | dict[str, Any]


class ModelConfig(Section):
    """A model from the zoo (``name``) or built from ``layers``; ``options`` go to the zoo factory."""

    name: str | None = None
    layers: list[LayerSpec] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    init: str | None = None
    pretrained: str | None = Field(
        None,
        description="a run directory or a .safetensors file: load the tensors matching by name and shape",
    )
    freeze: Literal["none", "backbone"] | list[str] = Field(
        "none", description="backbone (every layer but the last with weights) or parameter-name prefixes"
    )

    @field_validator("freeze")
    @classmethod
    def _prefixes(cls, v: Any) -> Any:
        if isinstance(v, list) and (not v or not all(isinstance(p, str) and p.strip() for p in v)):
            raise ValueError("model.freeze must be none, backbone or a non-empty list of layer-name prefixes")
        return v

    @model_validator(mode="before")
    @classmethod
    def _options_shorthand(cls, v: Any) -> Any:
        # `{name: mlp, hidden: [64, 32]}` is short for `{name: mlp, options: {hidden: [64, 32]}}`:
        # a zoo model's own keys sit beside its name (the zoo factory checks them).
        if isinstance(v, dict) and v.get("name") is not None:
            extra = {k: x for k, x in v.items() if k not in cls.model_fields}
            if extra:
                rest = {k: x for k, x in v.items() if k in cls.model_fields}
                return {**rest, "options": {**(v.get("options") or {}), **extra}}
        return v

    @model_validator(mode="after")
    def _one_of(self) -> ModelConfig:
        if self.name is None and not self.layers:
            raise ValueError("model needs either model.name (a zoo model) or model.layers (a layer list)")
        if self.name is not None and self.layers:
            raise ValueError("model.name and model.layers are exclusive: give one of them")
        return self
