"""The whole experiment: the root of the config schema."""

from __future__ import annotations

from pydantic import Field

from knobwise.config._base import Section
from knobwise.config._data import DataConfig
from knobwise.config._evaluate import EvaluateConfig
from knobwise.config._model import ModelConfig
from knobwise.config._train import TrainConfig


class ExperimentConfig(Section):
    """An experiment: seed, data, model, train, evaluate.

    Example:
        >>> cfg = ExperimentConfig.model_validate({"model": {"name": "mlp"}})
        >>> cfg.data.dataset, cfg.train.optimizer.name
        ('digits', 'adam')
    """

    name: str | None = None
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(name="digits_cnn"))
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
