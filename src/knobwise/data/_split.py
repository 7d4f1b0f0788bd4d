"""Seeded, stratified division of examples into train / dev / test (and train-dev).

Each cut is scikit-learn's ``train_test_split`` (replayed by :mod:`._shuffle_split` so a run does
not pay scikit-learn's import time; the indices are the same). Split sizes are whole numbers computed here
(``round(fraction * n)``), so the same config and seed always give the same split. When a
stratified cut is impossible (a class with a single example, or a split smaller than the number
of classes) the cut falls back to an unstratified one and says so in ``warnings`` (also logged),
rather than refusing tiny experiments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from knobwise.config import SplitConfig
from knobwise.data._shuffle_split import shuffle_split
from knobwise.errors import DataError

__all__ = ["SplitPlan", "stratified_subset", "plan_splits", "class_counts", "imbalance_line", "LIMIT_SEED"]

log = logging.getLogger("knobwise.data")

#: ``data.limit`` picks the same subset whatever the experiment seed, so runs with different seeds
#: compare on the same examples and decoded-image caches are reused.
LIMIT_SEED = 0


@dataclass
class SplitPlan:
    """Positions of each split's examples (into the pool, or into the own test set)."""

    indices: dict[str, np.ndarray]
    from_test_set: dict[str, bool]
    warnings: list[str] = field(default_factory=list)


def _rs(seed: int) -> int:
    return int(seed) % (2**32)


def _cut(
    idx: np.ndarray,
    y: np.ndarray,
    n_take: int,
    seed: int,
    stratify: bool,
    what: str,
    warnings: list[str],
    ordered: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, taken) with ``len(taken) == n_take``; ``y`` is indexed by ``idx``."""
    if n_take <= 0:
        return idx, idx[:0]
    if n_take >= len(idx):
        return idx[:0], idx
    if ordered:  # the last n_take in the dataset's own order (idx is sorted)
        return idx[: len(idx) - n_take], idx[len(idx) - n_take :]
    if stratify:
        try:
            return shuffle_split(idx, y, n_take, _rs(seed), stratify=True)
        except ValueError as exc:
            msg = f"{what}: cannot stratify ({exc}); split without stratification"
            log.warning(msg)
            warnings.append(msg)
    return shuffle_split(idx, y, n_take, _rs(seed), stratify=False)


def stratified_subset(
    y: np.ndarray, limit: int | None, seed: int = LIMIT_SEED, what: str = "data.limit", stratify: bool = True
) -> tuple[np.ndarray, list[str]]:
    """Sorted positions of a class-stratified subset of ``limit`` examples (all when ``limit`` is None
    or not smaller than ``len(y)``), and any warnings.

    >>> import numpy as np
    >>> idx, _ = stratified_subset(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 4)
    >>> np.bincount(np.array([0, 0, 0, 0, 1, 1, 1, 1])[idx]).tolist()
    [2, 2]
    """
    all_idx = np.arange(len(y))
    if limit is None or limit >= len(y):
        return all_idx, []
    warnings: list[str] = []
    _, taken = _cut(all_idx, y, limit, seed, stratify, what, warnings)
    return taken, warnings


def _count(n: int, frac: float, key: str, of: str) -> int:
    k = int(round(frac * n))
    if frac > 0 and k == 0:
        raise DataError(
            f"data.split.{key} = {frac:g} gives 0 of {n} {of}; raise it, set it to 0, or use more data"
        )
    return k


def plan_splits(y: np.ndarray, y_test: np.ndarray | None, split: SplitConfig, seed: int) -> SplitPlan:
    """Divide the pool labelled ``y`` (and the own test set ``y_test``, if used) into splits.

    With an own test set and ``split.own_test``, test is that set and train/dev divide the pool in
    proportion ``train : dev``. Otherwise the pool is cut into test, dev and train by the fractions.
    ``split.train_dev`` then carves that fraction of train as ``train_dev``. Empty splits are absent.

    >>> import numpy as np
    >>> from knobwise.config import SplitConfig
    >>> plan = plan_splits(np.repeat(np.arange(2), 50), None, SplitConfig(), seed=0)
    >>> {k: len(v) for k, v in plan.indices.items()}
    {'train': 80, 'dev': 10, 'test': 10}
    """
    warnings: list[str] = []
    n = len(y)
    pool = np.arange(n)
    strat = split.stratify
    ordered = split.ordered
    out: dict[str, np.ndarray] = {}
    from_test: dict[str, bool] = {}
    if n == 0:
        raise DataError("data: the dataset has no training examples")
    if y_test is not None and split.own_test:
        n_dev = _count(n, split.dev / (split.train + split.dev), "dev", "training-pool examples")
        train, dev = _cut(pool, y, n_dev, seed, strat, "dev split", warnings, ordered)
        test = np.arange(len(y_test))
    else:
        n_test = _count(n, split.test, "test", "examples")
        n_dev = _count(n, split.dev, "dev", "examples")
        if n - n_test - n_dev <= 0:
            raise DataError(f"data.split: train gets 0 of {n} examples; raise data.split.train")
        rest, test = _cut(pool, y, n_test, seed, strat, "test split", warnings, ordered)
        train, dev = _cut(rest, y, n_dev, seed + 1, strat, "dev split", warnings, ordered)
    if len(train) == 0:
        raise DataError(f"data.split: train gets 0 of {n} examples; raise data.split.train")
    if split.train_dev > 0:
        n_td = _count(len(train), split.train_dev, "train_dev", "training examples")
        if n_td >= len(train):
            raise DataError(f"data.split.train_dev = {split.train_dev:g} leaves no training examples")
        train, train_dev = _cut(train, y, n_td, seed + 2, strat, "train_dev split", warnings, ordered)
        out["train_dev"] = train_dev
    out = {"train": train, "dev": dev, "test": test, **out}
    from_test = {k: (k == "test" and y_test is not None and split.own_test) for k in out}
    out = {k: v for k, v in out.items() if len(v) > 0}
    return SplitPlan(indices=out, from_test_set={k: from_test[k] for k in out}, warnings=warnings)


def class_counts(y: np.ndarray, num_classes: int) -> list[int]:
    """Examples per class, a list of ``num_classes`` ints."""
    return [int(c) for c in np.bincount(y, minlength=num_classes)[:num_classes]]


def imbalance_line(name: str, counts: list[int], classes: list[str]) -> str:
    """``"train imbalance: largest 'a' 90, smallest 'b' 10, ratio 9.0"`` (ratio ``inf`` when a
    class is missing from the split).

    >>> imbalance_line("train", [90, 10], ["a", "b"])
    "train imbalance: largest 'a' 90, smallest 'b' 10, ratio 9.00"
    >>> imbalance_line("dev", [18, 18], ["a", "b"])
    'dev balanced: 18 per class'
    """
    hi, lo = int(np.argmax(counts)), int(np.argmin(counts))
    if counts[hi] == counts[lo]:
        return f"{name} balanced: {counts[hi]} per class"
    ratio = f"{counts[hi] / counts[lo]:.2f}" if counts[lo] else "inf"
    return (
        f"{name} imbalance: largest {classes[hi]!r} {counts[hi]}, smallest {classes[lo]!r} {counts[lo]}, "
        f"ratio {ratio}"
    )
