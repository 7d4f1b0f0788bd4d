"""Keras ImageDataGenerator preprocessing: featurewise / samplewise centring and std
normalization and ZCA whitening, fitted on train only, saved with the run and re-applied from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig, load_config
from knobwise.data import Normalizer, prepare_data
from knobwise.errors import ConfigError
from knobwise.run import train_experiment


def _keras_fit_standardize(train: np.ndarray, x: np.ndarray, **flags: bool) -> np.ndarray:
    """Keras's ImageDataGenerator.fit on ``train`` then .standardize of ``x``, transcribed for
    channels-first float64 images (rescale already applied), as the reference."""
    train, x = train.astype(np.float64).copy(), x.astype(np.float64).copy()
    mean = std = zca = None
    if flags.get("featurewise_center"):
        mean = train.mean(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
        train -= mean
    if flags.get("featurewise_std_normalization"):
        std = train.std(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
        train /= std + 1e-6
    if flags.get("zca_whitening"):
        flat = train.reshape(len(train), -1)
        sigma = flat.T @ flat / len(train)
        u, s, _ = np.linalg.svd(sigma)
        zca = (u * (1.0 / np.sqrt(s[np.newaxis] + 1e-6))) @ u.T
    if flags.get("samplewise_center"):
        x -= x.mean(axis=(1, 2, 3), keepdims=True)
    if flags.get("samplewise_std_normalization"):
        x /= x.std(axis=(1, 2, 3), keepdims=True) + 1e-6
    if mean is not None:
        x -= mean
    if std is not None:
        x /= std + 1e-6
    if zca is not None:
        x = (x.reshape(len(x), -1) @ zca).reshape(x.shape)
    return x


FLAG_SETS = [
    {"featurewise_center": True},
    {"featurewise_center": True, "featurewise_std_normalization": True},
    {"samplewise_center": True, "samplewise_std_normalization": True},
    {"samplewise_center": True, "featurewise_center": True},
    {"featurewise_center": True, "zca_whitening": True},
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: "+".join(f))
def test_matches_keras_on_digits(flags: dict[str, bool]) -> None:
    plain = prepare_data(DataConfig(dataset="digits", normalize="none"), seed=0)
    pre = prepare_data(DataConfig(dataset="digits", normalize="none", **flags), seed=0)
    train = plain.splits["train"].x.numpy()
    for split in ("train", "dev"):
        expected = _keras_fit_standardize(train, plain.splits[split].x.numpy(), **flags)
        assert np.allclose(pre.splits[split].x.numpy(), expected, atol=2e-4), split
    # Saved with the run (model.json data.normalizer) and re-applied to raw pixels (predict/export).
    again = Normalizer.from_dict(json.loads(json.dumps(pre.normalizer.to_dict())))
    raw = torch.from_numpy(plain.splits["dev"].x.numpy() * 16.0)  # digits pixels are 0..16
    assert torch.allclose(again(raw), pre.splits["dev"].x, atol=2e-4)


def test_featurewise_is_fitted_on_train_only_and_folds_into_the_normalizer() -> None:
    pre = prepare_data(
        DataConfig(
            dataset="digits", normalize="none", featurewise_center=True, featurewise_std_normalization=True
        ),
        seed=0,
    )
    tr, dev = pre.splits["train"].x, pre.splits["dev"].x
    assert abs(float(tr.mean())) < 1e-5 and float(tr.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(dev.mean())) > 1e-4  # dev is mapped with train's statistics, not its own
    assert not pre.normalizer.steps  # a per-channel affine: folded into shift and scale


def test_zca_whitens_the_training_split() -> None:
    pre = prepare_data(
        DataConfig(dataset="digits", normalize="none", featurewise_center=True, zca_whitening=True), seed=0
    )
    flat = pre.splits["train"].x.reshape(len(pre.splits["train"]), -1).double()
    cov = flat.T @ flat / len(flat)
    # Identity, except where a pixel's variance is near zca_epsilon (blank border pixels: ~0).
    live = torch.diagonal(cov) > 0.9
    assert float(live.sum()) > 50
    eye = torch.eye(int(live.sum()), dtype=torch.float64)
    assert torch.allclose(cov[live][:, live], eye, atol=0.05)
    assert [s["kind"] for s in pre.normalizer.to_dict()["steps"]] == ["channel", "zca"]


def test_a_run_saves_the_steps(tmp_path: Path) -> None:
    cfg = load_config(
        None, ["data.limit=200", "train.epochs=1", "data.samplewise_center=true", "data.zca_whitening=true"]
    )
    train_experiment(cfg, tmp_path / "run", quiet=True)
    saved = json.loads((tmp_path / "run" / "model.json").read_text())["data"]["normalizer"]
    assert [s["kind"] for s in saved["steps"]] == ["samplewise_center", "zca"]
    assert Normalizer.from_dict(saved).steps[1]["matrix"].shape == (64, 64)


def test_per_image_steps_refuse_augmentation() -> None:
    with pytest.raises(ConfigError, match=r"data.zca_whitening cannot be combined with data.augment"):
        load_config(None, ["data.zca_whitening=true", "data.augment={rotation_range: 5}"])
    with pytest.raises(ConfigError, match=r"data.zca_epsilon"):
        load_config(None, ["data.zca_epsilon=0"])
