"""Images and labels from a ``.npz`` file (read without pickle).

Keys: ``x`` images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C in 1, 3, 4; ``y`` int
labels in ``[0, K)`` with K = ``len(classes)`` if ``classes`` is given, else ``max(y) + 1``;
optional ``classes`` (strings), ``x_test``/``y_test`` (the own test set), ``ids``/``ids_test`` and
``groups``/``groups_test``. ``uint8`` images are scaled by 1/255 before normalization, float images
are used as given.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig
from knobwise.data._source import Source, register_source
from knobwise.errors import DataError

__all__ = ["load_arrays", "to_nchw"]

_CHANNELS = (1, 3, 4)


def to_nchw(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as ``(N, C, H, W)``.

    A 4-d array is channels-first when only axis 1 is 1, 3 or 4, channels-last when only axis 3
    is; when both are, the smaller one is the channel axis (``(N, 4, 4, 3)`` is channels-last), and
    on a tie channels-first wins.

    >>> to_nchw(np.zeros((2, 5, 6, 3)), "x").shape
    (2, 3, 5, 6)
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
        if first and (not last or x.shape[1] <= x.shape[3]):
            return x
        if last:
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    raise DataError(
        f"{name} has shape {x.shape}; allowed: (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4"
    )


def _images(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return to_nchw(x, name)
    if x.dtype.kind not in "fiu" or x.dtype.kind == "b":
        raise DataError(f"{name} has dtype {x.dtype}; allowed: uint8 (0-255) or float images")
    return to_nchw(x, name).astype(np.float32)


def _labels(y: np.ndarray, name: str, path: Path) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"arrays: {path}: {name} must be a 1-d integer array, got {y.dtype} {y.shape}")
    return y.astype(np.int64)


def _check_range(y: np.ndarray, k: int, name: str, path: Path) -> None:
    bad = np.unique(y[(y < 0) | (y >= k)])
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:10])
        raise DataError(f"arrays: {path}: {name} has labels outside 0..{k - 1} (the {k} classes): {shown}")


def _optional(z: dict[str, np.ndarray], key: str, n: int, path: Path) -> np.ndarray | None:
    if key not in z:
        return None
    arr = z[key]
    if len(arr) != n:
        raise DataError(f"{path}: {key} has {len(arr)} entries but there are {n} images")
    return arr.astype(str)


@register_source("arrays")
def load_arrays(cfg: DataConfig, root: Path) -> Source:
    """Load ``root`` (a ``.npz`` file, or a folder holding exactly one).

    >>> import tempfile, numpy as np
    >>> from knobwise.config import DataConfig
    >>> p = Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(p, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))
    >>> load_arrays(DataConfig(dataset="arrays"), p).x.shape
    (4, 1, 8, 8)
    """
    path = root
    if root.is_dir():
        found = sorted(root.glob("*.npz"))
        if len(found) != 1:
            raise DataError(f"arrays: {root} must hold exactly one .npz file, found {len(found)}")
        path = found[0]
    if not path.is_file():
        raise DataError(f"arrays: no .npz file at {root}; set data.root to a .npz with keys x and y")
    try:
        with np.load(path, allow_pickle=False) as npz:
            z = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"arrays: cannot read {path} as .npz without pickle ({exc})") from exc
    for key in ("x", "y"):
        if key not in z:
            raise DataError(f"arrays: {path} has no {key!r} array (keys: {', '.join(z) or 'none'})")
    classes = [str(c) for c in z["classes"].tolist()] if "classes" in z else None
    x = _images(z["x"], f"{path}: x")
    y = _labels(np.asarray(z["y"]), "y", path)
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} images but y has {len(y)} labels")
    x_test = y_test = None
    if ("x_test" in z) != ("y_test" in z):
        raise DataError(f"{path}: x_test and y_test must be given together")
    if "x_test" in z:
        x_test = _images(z["x_test"], f"{path}: x_test")
        y_test = _labels(np.asarray(z["y_test"]), "y_test", path)
        if len(x_test) != len(y_test):
            raise DataError(f"{path}: x_test has {len(x_test)} images but y_test has {len(y_test)} labels")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test images are {x_test.shape[1:]} but x images are {x.shape[1:]}")
    if classes is None:
        tops = [int(a.max()) for a in (y, y_test) if a is not None and a.size]
        classes = [str(i) for i in range(max(tops, default=0) + 1)]
    _check_range(y, len(classes), "y", path)
    if y_test is not None:
        _check_range(y_test, len(classes), "y_test", path)
    n_test = len(y_test) if y_test is not None else 0
    return Source(
        x=x,
        y=y,
        classes=classes,
        x_test=x_test,
        y_test=y_test,
        ids=_optional(z, "ids", len(y), path),
        ids_test=_optional(z, "ids_test", n_test, path) if y_test is not None else None,
        groups=_optional(z, "groups", len(y), path),
        groups_test=_optional(z, "groups_test", n_test, path) if y_test is not None else None,
        meta={"name": "arrays", "root": str(path)},
    )
