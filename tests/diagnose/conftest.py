"""Trained runs for the attribution tests: the synthetic corner set (see corner_data) and MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corner_data import CLASSES, CNN, CNN_GAP, corner_images

from knobwise.config import config_from_dict
from knobwise.run import train_experiment


def _train_corner(root: Path, layers: list, epochs: int) -> Path:
    x, y = corner_images(480, seed=0)
    np.savez(root / "corner.npz", x=x, y=y, classes=np.array(CLASSES))
    cfg = config_from_dict(
        {
            "name": "corner",
            "data": {
                "dataset": "arrays",
                "root": str(root / "corner.npz"),
                "split": {"train": 0.8, "dev": 0.2, "test": 0.0},
            },
            "model": {"layers": layers, "init": "he_normal"},
            "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}},
        }
    )
    run = train_experiment(cfg, root / "run", quiet=True)
    assert run.metrics["dev"]["accuracy"] > 0.95, run.metrics["dev"]["accuracy"]
    return run.root


@pytest.fixture(scope="session")
def corner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN with a flatten + dense head trained on the corner set (full dev accuracy)."""
    return _train_corner(tmp_path_factory.mktemp("corner"), CNN, epochs=3)


@pytest.fixture(scope="session")
def corner_gap_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same convolutions with a global-average-pooling head (needs a few more epochs)."""
    return _train_corner(tmp_path_factory.mktemp("corner-gap"), CNN_GAP, epochs=5)


#: conv - pool - conv - pool - flatten - dense: a small LeNet-like MNIST classifier.
MNIST_CNN = [
    {"conv2d": {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"maxpool2d": {"pool_size": 2}},
    {"conv2d": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"maxpool2d": {"pool_size": 2}},
    "flatten",
    {"dense": {"units": 10}},
]


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained on 1,200 MNIST images for two epochs."""
    root = tmp_path_factory.mktemp("mnist")
    cfg = config_from_dict(
        {
            "name": "mnist-small",
            "data": {"dataset": "mnist", "limit": 1200, "test_limit": 100},
            "model": {"layers": MNIST_CNN},
            "train": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.003}},
        }
    )
    run = train_experiment(cfg, root / "run", quiet=True)
    assert run.metrics["dev"]["accuracy"] > 0.85, run.metrics["dev"]["accuracy"]
    return run.root
