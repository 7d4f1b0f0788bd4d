"""Trained runs for the attribution tests: the synthetic corner set (see corner_data) and MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corner_data import CLASSES, CNN, corner_images

from knobwise.config import config_from_dict
from knobwise.experiment import train_experiment


@pytest.fixture(scope="session")
def corner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained on the corner set (full dev accuracy after three epochs)."""
    root = tmp_path_factory.mktemp("corner")
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
            "model": {"layers": CNN},
            "train": {"epochs": 3, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}},
        }
    )
    run = train_experiment(cfg, root / "run", quiet=True)
    assert run.metrics["dev"]["accuracy"] > 0.95, run.metrics["dev"]["accuracy"]
    return run.run.root


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained on 1,200 MNIST images for two epochs."""
    root = tmp_path_factory.mktemp("mnist")
    cfg = config_from_dict(
        {
            "name": "mnist-small",
            "data": {"dataset": "mnist", "limit": 1200, "test_limit": 100},
            "model": {"layers": CNN[:-1] + [{"dense": {"units": 10}}]},
            "train": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.003}},
        }
    )
    run = train_experiment(cfg, root / "run", quiet=True)
    assert run.metrics["dev"]["accuracy"] > 0.85, run.metrics["dev"]["accuracy"]
    return run.run.root
