"""CIFAR-10 in the official python format (``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``).

The batches are pickles, so they are read with a restricted unpickler: the files hold only dicts of
bytes, lists and numpy arrays, and the unpickler resolves nothing but the few numpy/codec functions
that rebuild an array. Any other global is refused with a :class:`DataError`, so a crafted file
cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.config import DataConfig
from knobwise.data._source import Source, register_source
from knobwise.errors import DataError

__all__ = ["load_cifar10", "safe_unpickle"]

_FOLDER = "cifar-10-batches-py"
_ARCHIVE = "cifar-10-python.tar.gz"
_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_TEST = "test_batch"
_META = "batches.meta"
_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# Exactly what pickled numpy arrays (numpy 1.x and 2.x, protocols 2-5) need; nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"disallowed global {module}.{name}")


def safe_unpickle(data: bytes, name: str) -> Any:
    """Unpickle ``data`` (named ``name`` in messages) allowing only numpy array reconstruction.

    >>> import pickle
    >>> safe_unpickle(pickle.dumps({"labels": [1, 2]}), "x")
    {'labels': [1, 2]}
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # any failure to unpickle is a bad file, reported as such
        raise DataError(
            f"cifar10: cannot read {name} ({exc}); expected the official python-format batch"
        ) from exc


def _get(d: Any, key: str, name: str) -> Any:
    if isinstance(d, dict):
        for k in (key, key.encode()):
            if k in d:
                return d[k]
    raise DataError(f"cifar10: {name} has no {key!r} entry; expected the official python-format batch")


def _batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    d = safe_unpickle(raw, name)
    data = np.asarray(_get(d, "data", name))
    labels = np.asarray(_get(d, "labels", name), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(
            f"cifar10: {name} must hold data uint8 (N, 3072) and N labels, got {data.dtype} "
            f"{data.shape} and {len(labels)} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"cifar10: {name} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _read_files(root: Path) -> dict[str, bytes]:
    """The raw bytes of every batch, from the folder or from the archive (no extraction)."""
    names = [*_TRAIN, _TEST, _META]
    for folder in (root / _FOLDER, root):
        if (folder / _TRAIN[0]).is_file():
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:
                raise DataError(f"cifar10: {folder} lacks {', '.join(missing)}")
            return {n: (folder / n).read_bytes() for n in names}
    archive = root / _ARCHIVE if root.is_dir() else root
    if not archive.is_file():
        raise DataError(
            f"cifar10: no data in {root} (looked for {_FOLDER}/ and {_ARCHIVE}); set data.root or "
            "KNOBWISE_DATA_DIR (for the JPEG image folder use data.dataset: folder)"
        )
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in names:
                    fh = tf.extractfile(member)
                    if fh is not None:
                        out[base] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cifar10: cannot read archive {archive} ({exc})") from exc
    missing = [n for n in names if n not in out]
    if missing:
        raise DataError(f"cifar10: archive {archive} lacks {', '.join(missing)}")
    return out


@register_source("cifar10")
def load_cifar10(cfg: DataConfig, root: Path) -> Source:
    """50,000 training images as the pool, the 10,000 of ``test_batch`` as the own test set.

    Images are ``uint8`` ``(N, 3, 32, 32)``; ids are ``data_batch_k[i]`` / ``test_batch[i]``.
    """
    files = _read_files(root)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ids: list[str] = []
    for name in _TRAIN:
        x, y = _batch(files[name], name)
        xs.append(x)
        ys.append(y)
        ids.extend(f"{name}[{i}]" for i in range(len(y)))
    xt, yt = _batch(files[_TEST], _TEST)
    meta = safe_unpickle(files[_META], _META)
    names = _get(meta, "label_names", _META)
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names] or list(_CLASSES)
    return Source(
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        classes=classes,
        x_test=xt,
        y_test=yt,
        ids=np.array(ids),
        ids_test=np.array([f"{_TEST}[{i}]" for i in range(len(yt))]),
        meta={"name": "cifar10", "root": str(root)},
    )
