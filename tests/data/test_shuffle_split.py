"""The split replayed without scikit-learn gives scikit-learn's indices, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from knobwise.data._shuffle_split import shuffle_split


def _sklearn(idx: np.ndarray, y: np.ndarray, n_take: int, seed: int, stratify: bool):
    strat = y[idx] if stratify else None
    rest, taken = train_test_split(idx, test_size=n_take, stratify=strat, random_state=seed)
    return np.sort(rest), np.sort(taken)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(2, 40), min_size=2, max_size=8),
    frac=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
    subset=st.booleans(),
)
def test_stratified_equals_sklearn(counts: list[int], frac: float, seed: int, subset: bool) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    idx = np.arange(len(y))
    if subset:  # the later cuts take positions into a pool that skips some examples
        idx = idx[::2] if len(idx) > 20 else idx
    n_take = min(max(1, round(frac * len(idx))), len(idx) - 1)
    try:
        want = _sklearn(idx, y, n_take, seed, True)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(".")[0].split("=")[0]):
            shuffle_split(idx, y, n_take, seed, stratify=True)
        return
    got = shuffle_split(idx, y, n_take, seed, stratify=True)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_unstratified_equals_sklearn(n: int, frac: float, seed: int) -> None:
    idx, y = np.arange(n), np.zeros(n, dtype=int)
    n_take = min(max(1, round(frac * n)), n - 1)
    want = _sklearn(idx, y, n_take, seed, False)
    got = shuffle_split(idx, y, n_take, seed, stratify=False)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_refusals_name_the_reason() -> None:
    y = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"least populated classes in y have only 1 member.*\[1\]"):
        shuffle_split(np.arange(4), y, 2, 0)
    y = np.repeat(np.arange(5), 4)
    with pytest.raises(ValueError, match="test_size = 3 should.*number of classes = 5"):
        shuffle_split(np.arange(20), y, 3, 0)
    with pytest.raises(ValueError, match="train_size = 3 should.*number of classes = 5"):
        shuffle_split(np.arange(20), y, 17, 0)


def test_digits_split_matches_sklearn() -> None:
    """The quickstart's real split: the digits labels with its fractions and seed."""
    from sklearn.datasets import load_digits

    from knobwise.config import SplitConfig
    from knobwise.data._split import plan_splits

    y = load_digits().target
    plan = plan_splits(y, None, SplitConfig(train=0.7, dev=0.15, test=0.15), seed=0)
    rest, test = _sklearn(np.arange(len(y)), y, plan.indices["test"].size, 0, True)
    train, dev = _sklearn(rest, y, plan.indices["dev"].size, 1, True)
    assert np.array_equal(plan.indices["test"], test)
    assert np.array_equal(plan.indices["dev"], dev) and np.array_equal(plan.indices["train"], train)
