"""The knobwise cache folder, atomic writes into it, and safe extraction of tar archives.

Extracted archives and decoded image arrays are derived data: they live under
``$KNOBWISE_CACHE_DIR`` (default ``~/.cache/knobwise``), are keyed by what they were made from, and
appear only complete (written to a temporary name in the same folder, then renamed).

Example:
    >>> import os, tempfile
    >>> os.environ["KNOBWISE_CACHE_DIR"] = tempfile.mkdtemp()
    >>> cache_dir("extracted").is_dir()
    True
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from knobwise.errors import DataError

__all__ = ["cache_dir", "file_key", "extract_tar", "save_npy_atomic", "is_tar", "archive_stem"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def cache_dir(sub: str) -> Path:
    """``$KNOBWISE_CACHE_DIR/<sub>`` (default ``~/.cache/knobwise/<sub>``), created if missing."""
    base = os.environ.get("KNOBWISE_CACHE_DIR")
    root = Path(os.path.expanduser(base)) if base else Path.home() / ".cache" / "knobwise"
    path = root / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_key(path: Path) -> str:
    """A short hash of a file's resolved path, size and modification time."""
    st = path.stat()
    text = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_tar(path: Path) -> bool:
    """Whether ``path`` names a tar archive by its suffix."""
    return path.is_file() and path.name.lower().endswith(_TAR_SUFFIXES)


def archive_stem(path: Path) -> str:
    """``cifar10-jpeg.tar.gz`` -> ``cifar10-jpeg``."""
    name = path.name
    for suffix in _TAR_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def extract_tar(archive: Path) -> Path:
    """Extract ``archive`` once into the cache and return the extracted folder.

    Members are filtered with tarfile's ``"data"`` filter, so absolute paths, ``..`` components,
    links out of the tree and device files are refused with a :class:`DataError` naming the member.
    Extraction goes to a temporary folder that is renamed when complete, so a killed extraction
    leaves nothing that looks finished.
    """
    target = cache_dir("extracted") / f"{archive_stem(archive)}-{file_key(archive)}"
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
    except tarfile.FilterError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        member = getattr(getattr(exc, "tarinfo", None), "name", "?")
        raise DataError(
            f"{archive}: refused archive member {member!r} ({exc}); members must stay inside the archive"
        ) from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: cannot extract tar archive ({exc})") from exc
    try:
        os.rename(tmp, target)
    except OSError:
        # Another process finished the same extraction first: use theirs.
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            raise
    return target


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (a ``.npy``) via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
