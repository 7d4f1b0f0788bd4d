"""The whole experiment: the root of the config schema."""

from __future__ import annotations

from pydantic import Field, model_validator

from knobwise.config._base import Section
from knobwise.config._data import TABULAR_DATASETS, DataConfig
from knobwise.config._evaluate import EvaluateConfig
from knobwise.config._model import ModelConfig
from knobwise.config._track import TrackConfig
from knobwise.config._train import TrainConfig

#: What ``knobwise train`` runs with no config (also ``examples/quickstart.yaml``): a small CNN on
#: scikit-learn's bundled 8x8 digits, offline, well under a minute on 2 CPU cores.
QUICKSTART: dict[str, object] = {
    "data": {"dataset": "digits", "split": {"train": 0.7, "dev": 0.15, "test": 0.15}},
    "model": {"name": "digits_cnn"},
    "train": {
        "epochs": 15,
        "batch_size": 32,
        "optimizer": {"name": "adam", "lr": 0.003},
        "schedule": {"name": "cosine"},
    },
}


class ExperimentConfig(Section):
    """An experiment: seed, data, model, train, evaluate, track.

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
    track: TrackConfig = Field(default_factory=TrackConfig)

    @model_validator(mode="after")
    def _check_tta(self) -> ExperimentConfig:
        if self.evaluate.tta is not None and self.data.dataset in TABULAR_DATASETS:
            raise ValueError(
                f"evaluate.tta applies to images; data.dataset {self.data.dataset} is tabular data: "
                "remove evaluate.tta"
            )
        return self
