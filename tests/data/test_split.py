"""Splits: fractions, stratification (checked against scikit-learn), limits, train-dev, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from knobwise.config import DataConfig, SplitConfig
from knobwise.data import plan_splits, prepare_data, stratified_subset
from knobwise.errors import DataError

Y = load_digits().target


def test_fraction_sizes_and_disjoint() -> None:
    plan = plan_splits(Y, None, SplitConfig(train=0.7, dev=0.2, test=0.1), seed=3)
    sizes = {k: len(v) for k, v in plan.indices.items()}
    assert sizes == {"train": 1258, "dev": 359, "test": 180}
    together = np.concatenate(list(plan.indices.values()))
    assert sorted(together.tolist()) == list(range(len(Y)))
    assert not any(plan.from_test_set.values())


def test_stratified_test_split_equals_sklearn() -> None:
    plan = plan_splits(Y, None, SplitConfig(), seed=7)
    _, want = train_test_split(np.arange(len(Y)), test_size=180, stratify=Y, random_state=7)
    np.testing.assert_array_equal(plan.indices["test"], np.sort(want))
    share = np.bincount(Y) / len(Y)
    for idx in plan.indices.values():
        got = np.bincount(Y[idx], minlength=10)
        assert np.all(np.abs(got - share * len(idx)) <= 1.0)


def test_unstratified_differs() -> None:
    strat = plan_splits(Y, None, SplitConfig(), seed=0).indices["dev"]
    plain = plan_splits(Y, None, SplitConfig(stratify=False), seed=0).indices["dev"]
    assert len(strat) == len(plain) and not np.array_equal(strat, plain)


def test_own_test_set() -> None:
    y_test = np.arange(50) % 10
    plan = plan_splits(Y, y_test, SplitConfig(train=0.75, dev=0.15, test=0.1), seed=0)
    assert len(plan.indices["test"]) == 50 and plan.from_test_set["test"]
    assert len(plan.indices["dev"]) == round(len(Y) * 0.15 / 0.9)
    plan = plan_splits(Y, y_test, SplitConfig(own_test=False), seed=0)
    assert len(plan.indices["test"]) == 180 and not plan.from_test_set["test"]


def test_train_dev_carve() -> None:
    plan = plan_splits(Y, None, SplitConfig(train_dev=0.25), seed=0)
    train, td = plan.indices["train"], plan.indices["train_dev"]
    assert len(td) == round(0.25 * 1437) and len(train) + len(td) == 1437
    assert not set(train) & set(td) and not set(td) & set(plan.indices["dev"])


def test_zero_dev_is_absent() -> None:
    plan = plan_splits(Y, None, SplitConfig(train=0.9, dev=0.0, test=0.1), seed=0)
    assert list(plan.indices) == ["train", "test"]


def test_fraction_giving_zero_examples() -> None:
    with pytest.raises(DataError, match=r"data.split.dev = 0.001 gives 0 of 20 examples"):
        plan_splits(np.arange(20) % 2, None, SplitConfig(train=0.899, dev=0.001, test=0.1), seed=0)
    with pytest.raises(DataError, match=r"data.split.train_dev = 0.01 gives 0 of 16 training examples"):
        plan_splits(np.arange(20) % 2, None, SplitConfig(train_dev=0.01), seed=0)


def test_impossible_stratification_falls_back_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    y = np.array([0] * 10 + [1] * 9 + [2])  # class 2 has a single example
    plan = plan_splits(y, None, SplitConfig(), seed=0)
    assert {k: len(v) for k, v in plan.indices.items()} == {"train": 16, "dev": 2, "test": 2}
    assert plan.warnings and "cannot stratify" in plan.warnings[0]
    assert "cannot stratify" in caplog.text


def test_limit_is_stratified_and_seed_independent() -> None:
    idx, warnings = stratified_subset(Y, 300)
    assert len(idx) == 300 and not warnings
    assert np.all(np.abs(np.bincount(Y[idx]) - np.bincount(Y) * 300 / len(Y)) <= 1.0)
    a = prepare_data(DataConfig(dataset="digits", limit=300), seed=0)
    b = prepare_data(DataConfig(dataset="digits", limit=300), seed=1)
    pool_a = np.sort(np.concatenate([s.index for s in a.splits.values()]))
    pool_b = np.sort(np.concatenate([s.index for s in b.splits.values()]))
    np.testing.assert_array_equal(pool_a, pool_b)
    assert not np.array_equal(a.splits["dev"].index, b.splits["dev"].index)


def test_same_seed_same_split() -> None:
    cfg = DataConfig(dataset="digits", split=SplitConfig(train_dev=0.1))
    a, b = prepare_data(cfg, seed=5), prepare_data(cfg, seed=5)
    for name in ("train", "train_dev", "dev", "test"):
        np.testing.assert_array_equal(a.splits[name].index, b.splits[name].index)
        assert bool((a.splits[name].x == b.splits[name].x).all())


def test_mnist_limits_use_own_test_set(data_dir: Path) -> None:
    cfg = DataConfig(dataset="mnist", root=str(data_dir / "mnist"), limit=1000, test_limit=200)
    data = prepare_data(cfg, seed=0)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 889, "dev": 111, "test": 200}
    assert data.splits["test"].from_test_set and data.input_shape == (1, 28, 28)
    assert data.splits["test"].ids is not None and data.splits["test"].ids[0].startswith("t10k[")
    assert sum(data.class_counts["test"]) == 200 and min(data.class_counts["test"]) >= 17


def test_ordered_split_cuts_the_dataset_in_its_own_order() -> None:
    """network3.py's MNIST split: the first 50,000 training images train, the last 10,000 validate."""
    y = np.repeat(np.arange(10), 10)[np.random.default_rng(0).permutation(100)]
    plan = plan_splits(y, None, SplitConfig(train=0.7, dev=0.2, test=0.1, ordered=True), seed=0)
    assert plan.indices["train"].tolist() == list(range(70))
    assert plan.indices["dev"].tolist() == list(range(70, 90))
    assert plan.indices["test"].tolist() == list(range(90, 100))
    own = plan_splits(
        y, np.zeros(5, dtype=int), SplitConfig(train=5 / 6, dev=1 / 6, test=0.0, ordered=True), 0
    )
    assert own.indices["dev"].tolist() == list(range(83, 100)) and own.from_test_set["test"]
