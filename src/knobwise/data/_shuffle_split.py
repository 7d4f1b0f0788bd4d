"""scikit-learn's ``train_test_split`` cut, index for index, without importing scikit-learn.

Every run splits its data, and importing ``sklearn.model_selection`` costs more than a second
(it pulls in SciPy and pandas) — most of a small run's start-up. This module replays the
algorithm of ``StratifiedShuffleSplit`` / ``ShuffleSplit`` (scikit-learn 1.x) with the same
``numpy.random.RandomState`` draws, so a config and seed give exactly the split scikit-learn would
give (``tests/data/test_shuffle_split.py`` checks it against scikit-learn on many random cases),
and the same messages when a stratified cut is impossible.

Example:
    >>> import numpy as np
    >>> rest, taken = shuffle_split(np.arange(10), np.array([0, 1] * 5), n_take=4, seed=0)
    >>> taken.tolist(), len(rest)  # what train_test_split(..., random_state=0) takes
    ([6, 7, 8, 9], 6)
"""

from __future__ import annotations

import numpy as np

__all__ = ["shuffle_split"]


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Per-class draws that sum to ``n_draws``, proportional to ``class_counts``; remainders are
    rounded up largest first, ties broken by ``rng`` (scikit-learn's ``_approximate_mode``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _stratified(y: np.ndarray, n_test: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, test) into ``y`` as ``StratifiedShuffleSplit`` draws them."""
    n_train = len(y) - n_test
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if np.min(class_counts) < 2:
        raise ValueError(
            "The least populated classes in y have only 1 member, which is too few. The minimum "
            "number of groups for any class cannot be less than 2. Classes with too few members "
            f"are: {classes[class_counts < 2].tolist()}"
        )
    if n_train < len(classes):
        raise ValueError(
            f"The train_size = {n_train} should be greater or equal to the number of classes = {len(classes)}"
        )
    if n_test < len(classes):
        raise ValueError(
            f"The test_size = {n_test} should be greater or equal to the number of classes = {len(classes)}"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        perm = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(perm[: n_i[i]])
        test.extend(perm[n_i[i] : n_i[i] + t_i[i]])
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def shuffle_split(
    idx: np.ndarray, y: np.ndarray, n_take: int, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``idx`` into ``(rest, taken)``, both sorted, with ``len(taken) == n_take``: the same
    examples as ``train_test_split(idx, test_size=n_take, stratify=y[idx] if stratify else None,
    random_state=seed)``. ``y`` is indexed by ``idx``; ``0 < n_take < len(idx)``.

    Raises ``ValueError`` with scikit-learn's message when a stratified cut is impossible (a class
    with one example, or fewer examples on a side than there are classes).
    """
    rng = np.random.RandomState(seed)
    if stratify:
        train, test = _stratified(np.asarray(y)[idx], n_take, rng)
    else:
        perm = rng.permutation(len(idx))
        test, train = perm[:n_take], perm[n_take:]
    return np.sort(idx[train]), np.sort(idx[test])
