"""prepare_data: the public entry point other packages code against."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig, SplitConfig
from knobwise.data import PreparedData, SplitData, prepare_data


def test_digits_end_to_end() -> None:
    data = prepare_data(DataConfig(dataset="digits", split=SplitConfig(train_dev=0.1)), seed=0, device="cpu")
    assert isinstance(data, PreparedData)
    assert list(data.splits) == ["train", "train_dev", "dev", "test"]
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and data.classes[0] == "0"
    for name, split in data.splits.items():
        assert isinstance(split, SplitData)
        assert split.x.dtype == torch.float32 and split.x.shape[1:] == (1, 8, 8)
        assert split.y.dtype == torch.int64 and len(split) == split.x.shape[0] == len(split.index)
        assert split.ids is not None and split.groups is None and not split.from_test_set
        assert data.class_counts[name] == torch.bincount(split.y, minlength=10).tolist()
    assert sum(len(s) for s in data.splits.values()) == 1797


def test_describe_and_to_dict() -> None:
    data = prepare_data(DataConfig(dataset="digits"), seed=0)
    lines = data.describe()
    assert lines[0].startswith("dataset digits: 10 classes, input 1x8x8")
    assert any(line.strip().startswith("dev") and "180 examples" in line for line in lines)
    d = json.loads(json.dumps(data.to_dict()))
    assert d["splits"] == {"train": 1437, "dev": 180, "test": 180}
    assert d["input_shape"] == [1, 8, 8] and d["normalizer"]["mode"] == "standardize"


def test_arrays_with_groups(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "a.npz",
        x=rng.integers(0, 256, (60, 4, 4, 3), dtype=np.uint8),
        y=np.arange(60) % 3,
        groups=np.array(["web", "phone"] * 30),
    )
    data = prepare_data(DataConfig(dataset="arrays", root=str(tmp_path / "a.npz")), seed=0)
    assert data.input_shape == (3, 4, 4)
    g = data.splits["dev"].groups
    assert g is not None and set(g) <= {"web", "phone"} and len(g) == len(data.splits["dev"])


def test_meta_device_string() -> None:
    data = prepare_data(DataConfig(dataset="digits", limit=100), seed=0, device=torch.device("cpu"))
    assert data.splits["train"].x.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_device() -> None:
    data = prepare_data(DataConfig(dataset="digits"), seed=0, device="cuda")
    assert data.splits["train"].x.is_cuda and data.splits["train"].y.is_cuda
