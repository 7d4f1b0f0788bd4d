"""Config loading, overrides and one-line errors."""

from __future__ import annotations

import pytest
import yaml

from knobwise.config import ExperimentConfig, apply_overrides, config_to_yaml, load_config, schema_paths
from knobwise.errors import ConfigError


def test_quickstart_defaults() -> None:
    cfg = load_config(None)
    assert cfg.data.dataset == "digits"
    assert cfg.model.name == "digits_cnn"


def test_yaml_file_and_overrides_are_typed(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: mnist}\nmodel: {name: mlp}\ntrain: {epochs: 3}\n")
    cfg = load_config(path, ["train.optimizer.lr=1e-2", "train.batch_size=64", "train.loss=multiclass_hinge"])
    assert cfg.train.optimizer.lr == pytest.approx(0.01)
    assert cfg.train.batch_size == 64 and cfg.train.epochs == 3
    assert cfg.train.loss.name == "multiclass_hinge"
    assert cfg.data.dataset == "mnist"


def test_resolved_config_round_trips() -> None:
    cfg = load_config(None, ["train.epochs=2"])
    again = ExperimentConfig.model_validate(yaml.safe_load(config_to_yaml(cfg)))
    assert again == cfg


def test_schema_paths_lists_leaves() -> None:
    paths = schema_paths()
    assert "train.optimizer.lr" in paths and "data.split.train" in paths


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epoch=3"], r"train\.epoch: unknown key; did you mean 'train\.epochs'"),
        (["train.optimizer.lr=-0.1"], r"train\.optimizer\.lr must be greater than 0, got -0\.1"),
        (["train.optimizer.lr=0"], r"train\.optimizer\.lr must be greater than 0, got 0"),
        (["train.batch_size=0"], r"train\.batch_size must be an integer >= 1 or .full., got 0"),
        (["train.epochs=0"], r"train\.epochs must be greater than or equal to 1, got 0"),
        (["data.split.train=0.5"], r"data\.split fractions train \+ dev \+ test must sum to 1, got 0\.5"),
        (
            ["data.normalize=zscore"],
            r"data\.normalize: must be 'standardize', 'minmax' or 'none', got 'zscore'",
        ),
        (["train.optimizer.nam=adam"], r"did you mean 'train\.optimizer\.name'"),
        (["trian.epochs=3"], r"trian: unknown key; did you mean 'train'"),
        (["train.epochs"], r"expected key=value"),
        (["train.epochs=abc"], r"train\.epochs: must be a valid integer"),
    ],
)
def test_bad_overrides(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_unknown_key_in_file_names_closest(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  optimiser: {name: sgd}\n")
    with pytest.raises(ConfigError, match=r"train\.optimiser: unknown key; did you mean 'train\.optimizer'"):
        load_config(path)


def test_bad_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML at line"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match=r"must be a YAML mapping"):
        load_config(scalar)


def test_model_name_and_layers_are_exclusive() -> None:
    with pytest.raises(ConfigError, match=r"model\.name and model\.layers are exclusive"):
        load_config(None, ["model.layers=[flatten]"])


def test_apply_overrides_keeps_input() -> None:
    base = {"train": {"epochs": 1}}
    out = apply_overrides(base, ["train.epochs=5"])
    assert base["train"]["epochs"] == 1 and out["train"]["epochs"] == 5
