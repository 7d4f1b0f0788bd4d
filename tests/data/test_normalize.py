"""Normalization: fitted on train only, per channel, json round trip, on-device application."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig
from knobwise.data import Normalizer, prepare_data
from knobwise.errors import DataError


def test_standardize_train_only_per_channel(make_tree, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_tree(tmp_path / "c", {"a": 20, "b": 20})
    data = prepare_data(DataConfig(dataset="folder", root=str(tmp_path / "c")), seed=0)
    train = data.splits["train"].x.double()
    torch.testing.assert_close(
        train.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        train.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0
    )
    dev = data.splits["dev"].x.double()
    assert not torch.allclose(dev.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)


def test_statistics_come_from_train_split() -> None:
    data = prepare_data(DataConfig(dataset="digits"), seed=0)
    from sklearn.datasets import load_digits

    raw = load_digits().images[data.splits["train"].index] / 16.0
    assert data.normalizer.shift[0] == pytest.approx(raw.mean(), abs=1e-12)
    assert data.normalizer.scale[0] == pytest.approx(raw.std(), abs=1e-12)
    assert data.normalizer.pixel_max == 16.0


def test_minmax_and_none() -> None:
    mm = prepare_data(DataConfig(dataset="digits", normalize="minmax"), seed=0)
    assert float(mm.splits["train"].x.min()) == 0.0 and float(mm.splits["train"].x.max()) == 1.0
    none = prepare_data(DataConfig(dataset="digits", normalize="none"), seed=0)
    assert none.normalizer.shift == [0.0] and float(none.splits["train"].x.max()) == 1.0


def test_uint8_and_float_statistics_agree() -> None:
    x = np.random.default_rng(0).integers(0, 256, (300, 3, 5, 5), dtype=np.uint8)
    a = Normalizer.fit(x, "standardize", 255)
    b = Normalizer.fit(x.astype(np.float32), "standardize", 255)
    np.testing.assert_allclose(a.shift, b.shift, rtol=1e-9)
    np.testing.assert_allclose(a.scale, b.scale, rtol=1e-6)
    want = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(3, -1) / 255
    np.testing.assert_allclose(a.shift, want.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(a.scale, want.std(axis=1), rtol=1e-12)


def test_constant_channel_keeps_unit_scale() -> None:
    norm = Normalizer.fit(np.full((4, 1, 2, 2), 7, np.uint8), "standardize", 255)
    assert norm.scale == [1.0]
    assert Normalizer.fit(np.full((4, 1, 2, 2), 7, np.uint8), "minmax", 255).scale == [1.0]


def test_json_round_trip_and_call() -> None:
    x = np.random.default_rng(1).integers(0, 256, (10, 3, 4, 4), dtype=np.uint8)
    norm = Normalizer.fit(x, "standardize", 255)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    t = torch.from_numpy(x)
    out = again(t)
    assert out.dtype == torch.float32 and t.dtype == torch.uint8  # input untouched
    torch.testing.assert_close(out, norm(t))


def test_bad_inputs() -> None:
    norm = Normalizer("standardize", [0.5], [0.2], 255)
    with pytest.raises(
        DataError, match=r"normalizer expects \(N, 1, H, W\) images, got shape \(2, 3, 4, 4\)"
    ):
        norm(torch.zeros(2, 3, 4, 4))
    with pytest.raises(
        DataError, match=r"data.normalize must be one of standardize, minmax, none, got 'zscore'"
    ):
        Normalizer("zscore", [0.0], [1.0])
    with pytest.raises(DataError, match=r"normalizer: malformed description"):
        Normalizer.from_dict({"mode": "none"})
