"""The experiment config: pydantic schema, YAML loading, ``--set`` overrides, clear errors.

Example:
    >>> from knobwise.config import load_config
    >>> cfg = load_config(None, ["train.epochs=2"])
    >>> cfg.train.epochs
    2
"""

from knobwise.config._augment import (
    AugmentConfig,
    BalanceConfig,
    ExpandConfig,
    MixConfig,
    SampleWeightConfig,
    SourceConfig,
    TTAConfig,
)
from knobwise.config._data import TABULAR_DATASETS, DataConfig, SplitConfig
from knobwise.config._evaluate import EvaluateConfig
from knobwise.config._experiment import ExperimentConfig
from knobwise.config._load import (
    apply_overrides,
    config_from_dict,
    config_to_yaml,
    load_config,
    read_yaml,
    schema_paths,
    validate_path,
)
from knobwise.config._model import LayerSpec, ModelConfig
from knobwise.config._tabular import AttributesConfig
from knobwise.config._track import MlflowConfig, TensorBoardConfig, TrackConfig
from knobwise.config._train import (
    EarlyStoppingConfig,
    FineTuneConfig,
    LossConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)

__all__ = [
    "TABULAR_DATASETS",
    "AttributesConfig",
    "AugmentConfig",
    "BalanceConfig",
    "ExpandConfig",
    "MixConfig",
    "SampleWeightConfig",
    "SourceConfig",
    "TTAConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "EvaluateConfig",
    "ExperimentConfig",
    "LayerSpec",
    "LossConfig",
    "MlflowConfig",
    "FineTuneConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "SplitConfig",
    "TensorBoardConfig",
    "TrackConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_yaml",
    "load_config",
    "read_yaml",
    "schema_paths",
    "validate_path",
]
