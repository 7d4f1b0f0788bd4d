"""MNIST from the four original IDX files (``.gz`` or uncompressed), parsed with numpy.

Files are looked for in the dataset root; when none are there and ``data.download`` is true they
are downloaded from a mirror and checked against the SHA-256 sums below before being kept.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig
from knobwise.data._source import Source, register_source
from knobwise.errors import DataError

__all__ = ["load_mnist", "read_idx", "MNIST_FILES"]

#: file name -> SHA-256 of the original ``.gz`` as published (checked after a download).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"

# IDX magic: two zero bytes, a type code (0x08 = unsigned byte) and the number of dimensions.
_MAGIC = {1: 0x00000801, 3: 0x00000803}


def _find(root: Path, name: str) -> Path | None:
    """``name`` (a ``.gz``) or its uncompressed twin in ``root``."""
    for candidate in (root / name, root / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file with ``ndim`` dimensions; :class:`DataError` if malformed."""
    try:
        raw = gzip.open(path).read() if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"mnist: cannot read {path} ({exc})") from exc
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"mnist: {path} is truncated ({len(raw)} bytes, header needs {header})")
    magic = int.from_bytes(raw[:4], "big")
    if magic != _MAGIC[ndim]:
        raise DataError(
            f"mnist: {path} has magic number {magic:#010x}, expected {_MAGIC[ndim]:#010x} "
            f"(unsigned-byte IDX with {ndim} dimension(s))"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    need = int(np.prod(dims))
    if len(raw) - header != need:
        raise DataError(
            f"mnist: {path} is truncated or padded: dims {dims} need {need} data bytes, "
            f"found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _download(root: Path) -> None:
    """Fetch every missing file, verify its SHA-256, then rename it into place."""
    root.mkdir(parents=True, exist_ok=True)
    for name, sha in MNIST_FILES.items():
        if _find(root, name):
            continue
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=root)
        try:
            with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(MNIST_MIRROR + name, timeout=60) as r:
                fh.write(r.read())
            got = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
            if got != sha:
                raise DataError(f"mnist: download of {name} has sha256 {got}, expected {sha}")
            os.replace(tmp, root / name)
        except OSError as exc:
            raise DataError(f"mnist: cannot download {MNIST_MIRROR + name} into {root} ({exc})") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)


@register_source("mnist")
def load_mnist(cfg: DataConfig, root: Path) -> Source:
    """The 60,000 training images as the pool and the 10,000 t10k images as the own test set.

    Images are ``uint8`` ``(N, 1, 28, 28)``; ids are ``train[i]`` / ``t10k[i]`` (index in the files).

    >>> from knobwise.config import DataConfig
    >>> src = load_mnist(DataConfig(dataset="mnist"), Path("../shared/data/mnist"))  # doctest: +SKIP
    >>> src.x.shape, src.x_test.shape  # doctest: +SKIP
    ((60000, 1, 28, 28), (10000, 1, 28, 28))
    """
    if not any(_find(root, n) for n in MNIST_FILES):
        if not cfg.download:
            raise DataError(
                f"mnist: no data in {root} (looked for {', '.join(MNIST_FILES)} or uncompressed); "
                "set data.root, KNOBWISE_DATA_DIR or data.download: true"
            )
        _download(root)
    paths: dict[str, Path] = {}
    for name in MNIST_FILES:
        found = _find(root, name)
        if found is None:
            raise DataError(f"mnist: {root / name} is missing (the other MNIST files are in {root})")
        paths[name] = found
    x = read_idx(paths["train-images-idx3-ubyte.gz"], 3)
    y = read_idx(paths["train-labels-idx1-ubyte.gz"], 1)
    xt = read_idx(paths["t10k-images-idx3-ubyte.gz"], 3)
    yt = read_idx(paths["t10k-labels-idx1-ubyte.gz"], 1)
    for imgs, labels, kind in ((x, y, "train"), (xt, yt, "t10k")):
        if len(imgs) != len(labels):
            raise DataError(f"mnist: {kind} has {len(imgs)} images but {len(labels)} labels in {root}")
        if labels.size and labels.max() > 9:
            raise DataError(f"mnist: {kind} labels in {root} must be 0..9, found {int(labels.max())}")
    return Source(
        x=x[:, None],
        y=y.astype(np.int64),
        classes=[str(c) for c in range(10)],
        x_test=xt[:, None],
        y_test=yt.astype(np.int64),
        ids=np.array([f"train[{i}]" for i in range(len(y))]),
        ids_test=np.array([f"t10k[{i}]" for i in range(len(yt))]),
        meta={"name": "mnist", "root": str(root)},
    )
