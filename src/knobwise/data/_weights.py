"""Per-example weights, ``data.sample_weight``: they enter the cost as J = Σ sᵢ·Lᵢ / Σ sᵢ.

Two forms:

- ``{file: weights.csv, column: weight}``: a CSV manifest whose rows name examples by ``id``
  (matched against the dataset's ids, e.g. the file path of a folder image or ``train[123]`` for
  MNIST) or, without an ``id`` column, by ``index`` (position in the pool); examples it does not
  list weigh ``default`` (1);
- ``{array: w}``: an array of the ``arrays`` dataset's npz, one weight per pool example (and
  ``w_test`` for its own test set when present).

Weights must be finite and >= 0; each bad value is an error naming the file, line and value.

Example:
    >>> import numpy as np
    >>> check_weights(np.array([1.0, 0.5]), "data.sample_weight")
    array([1. , 0.5])
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig, SampleWeightConfig
from knobwise.data._cleaning import _positions, read_cleaning_csv
from knobwise.data._source import Source, default_root
from knobwise.errors import DataError

__all__ = ["pool_weights", "check_weights"]


def check_weights(w: np.ndarray, what: str) -> np.ndarray:
    """``w`` as float64 after checking every weight is finite and >= 0."""
    w = np.asarray(w, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise DataError(f"{what}: weights must be finite and >= 0, got {w[bad[0]]:g} at position {bad[0]}")
    return w


def _from_csv(cfg: SampleWeightConfig, src: Source) -> tuple[np.ndarray, np.ndarray | None]:
    assert cfg.file is not None
    rows = read_cleaning_csv(cfg.file, "data.sample_weight", need_label=False)
    if rows and cfg.column not in rows[0]:
        cols = ", ".join(rows[0])
        raise DataError(f"data.sample_weight: {cfg.file} has no column {cfg.column!r} (columns: {cols})")
    w = np.full(len(src.y), cfg.default)
    w_test = None if src.y_test is None else np.full(len(src.y_test), cfg.default)
    for pos, test_side, n in _positions(rows, src, "data.sample_weight", cfg.file):
        raw = (rows[n].get(cfg.column) or "").strip()
        try:
            value = float(raw)
        except ValueError:
            raise DataError(
                f"data.sample_weight: {cfg.file} line {n + 2}: {cfg.column} {raw!r} is not a number"
            ) from None
        if not np.isfinite(value) or value < 0:
            raise DataError(
                f"data.sample_weight: {cfg.file} line {n + 2}: {cfg.column} must be >= 0, got {raw}"
            )
        target = w_test if test_side else w
        assert target is not None
        target[pos] = value
    return w, w_test


def _from_npz(cfg: SampleWeightConfig, data: DataConfig, src: Source) -> tuple[np.ndarray, np.ndarray | None]:
    assert cfg.array is not None
    if data.dataset != "arrays":
        raise DataError(
            f"data.sample_weight.array needs data.dataset arrays (an npz), got {data.dataset!r}; "
            "use file: a CSV"
        )
    root = default_root(data.dataset, data.root)
    path = next(iter(sorted(root.glob("*.npz"))), root) if root.is_dir() else root
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            keys = list(npz.files)
            if cfg.array not in keys:
                raise DataError(
                    f"data.sample_weight.array: {path} has no array {cfg.array!r} (keys: {', '.join(keys)})"
                )
            w = np.asarray(npz[cfg.array])
            w_test = np.asarray(npz[cfg.array + "_test"]) if cfg.array + "_test" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"data.sample_weight: cannot read {path} ({exc})") from exc
    if w.shape != (len(src.y),):
        raise DataError(f"data.sample_weight.array: {cfg.array} has shape {w.shape}, need ({len(src.y)},)")
    w = check_weights(w, f"data.sample_weight.array {cfg.array}")
    if w_test is not None and src.y_test is not None:
        w_test = check_weights(w_test, f"data.sample_weight.array {cfg.array}_test")
    elif src.y_test is not None:
        w_test = np.ones(len(src.y_test))
    return w, w_test


def pool_weights(data: DataConfig, src: Source) -> tuple[np.ndarray, np.ndarray | None]:
    """Weights of every pool example and of the own test set (None without one)."""
    cfg = data.sample_weight
    assert cfg is not None
    return _from_csv(cfg, src) if cfg.file is not None else _from_npz(cfg, data, src)
