"""The ``data.attributes:`` section of tabular datasets: which attributes reach the model, how.

``exclude`` lists columns that never reach the model (sensitive attributes kept out by law or for
equal opportunity); they are still listed in the run's metadata and report. ``weights`` scales an
attribute's normalized values before the first layer: with weight ``w`` the attribute enters as
``w * z`` (``z`` its standardized value), so its first-layer weights see gradients ``w`` times
smaller and an L2 penalty or weight decay costs it ``1/w^2`` times more for the same effect: a
weight below 1 damps the attribute's influence on training, above 1 strengthens it. A
categorical attribute's one-hot columns all take its weight. ``categorical`` attributes are
one-hot encoded with the categories seen in the training split.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from knobwise.config._base import Section

__all__ = ["AttributesConfig"]


class AttributesConfig(Section):
    """Attribute selection and encoding for ``csv``/``parquet`` and the bundled tabular sets.

    Example:
        >>> AttributesConfig(exclude=["sex"], weights={"age": 0.5}).weights
        {'age': 0.5}
    """

    exclude: list[str] = Field(default_factory=list, description="columns that never reach the model")
    weights: dict[str, float] = Field(
        default_factory=dict, description="scale an attribute's normalized values (its influence)"
    )
    categorical: list[str] = Field(
        default_factory=list, description="one-hot encoded, categories fitted on train only"
    )

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if not w > 0:
                raise ValueError(
                    f"data.attributes.weights.{name} must be > 0, got {w:g}; "
                    "to keep an attribute out entirely, list it in data.attributes.exclude"
                )
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> AttributesConfig:
        for other, names in (("weights", list(self.weights)), ("categorical", self.categorical)):
            both = sorted(set(self.exclude) & set(names))
            if both:
                raise ValueError(
                    f"data.attributes: {both[0]!r} is both excluded and in data.attributes.{other}; "
                    "an excluded attribute never reaches the model"
                )
        return self
