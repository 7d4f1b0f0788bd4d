"""metrics.json per split: every split (train-dev included) and each source when tagged."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig
from knobwise.data import prepare_data
from knobwise.metrics import UndefinedMetricWarning, load_predictions, save_predictions
from knobwise.run import evaluate_splits


def test_every_split_and_source(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x = (rng.random((n, 6, 6)) + y[:, None, None] * 0.5).astype(np.float32)  # learnable-ish
    groups = np.where(rng.random(n) < 0.5, "web", "phone")
    np.savez(tmp_path / "d.npz", x=x, y=y, groups=groups, classes=np.array(["a", "b", "c"]))
    cfg = DataConfig.model_validate(
        {"dataset": "arrays", "root": str(tmp_path / "d.npz"),
         "split": {"train": 0.6, "dev": 0.2, "test": 0.2, "train_dev": 0.2}}
    )  # fmt: skip
    data = prepare_data(cfg, seed=0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3))
    preds: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics = evaluate_splits(model, data, predictions=preds)
    assert list(metrics) == ["train", "train_dev", "dev", "test"]
    for name, m in metrics.items():
        assert m["n"] == len(data.splits[name])
        assert set(m["sources"]) == {"phone", "web"}
        assert sum(s["n"] for s in m["sources"].values()) == m["n"]
        summed = np.sum([s["confusion_matrix"] for s in m["sources"].values()], axis=0)
        assert summed.tolist() == m["confusion_matrix"]
        assert m["accuracy"] == pytest.approx(np.trace(summed) / m["n"])
    save_predictions(tmp_path / "predictions.npz", preds, data.classes)
    loaded = load_predictions(tmp_path / "predictions.npz")
    assert set(loaded) == {"train", "train_dev", "dev", "test"}
    dev = loaded["dev"]
    assert dev.source is not None and set(dev.source.tolist()) == {"phone", "web"}
    np.testing.assert_array_equal(dev.index, data.splits["dev"].index)
