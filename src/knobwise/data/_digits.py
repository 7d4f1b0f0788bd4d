"""The 8x8 handwritten digits bundled with scikit-learn (1,797 images, no own test set)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig
from knobwise.data._source import Source, register_source

__all__ = ["load_digits_source"]


@register_source("digits")
def load_digits_source(cfg: DataConfig, root: Path) -> Source:
    """scikit-learn's digits as ``float32`` ``(1797, 1, 8, 8)`` with raw values 0..16.

    ``meta["pixel_max"] = 16`` tells the normalizer to divide by 16 (not 255). ``root`` is unused:
    the data ships inside scikit-learn and needs no file.

    >>> from knobwise.config import DataConfig
    >>> src = load_digits_source(DataConfig(dataset="digits"), Path("."))
    >>> src.x.shape, src.classes[:3]
    ((1797, 1, 8, 8), ['0', '1', '2'])
    """
    images, target = _read_digits()
    x = np.asarray(images, dtype=np.float32)[:, None, :, :]
    y = np.asarray(target, dtype=np.int64)
    ids = np.array([f"digits[{i}]" for i in range(len(y))])
    return Source(
        x=x, y=y, classes=[str(c) for c in range(10)], ids=ids, meta={"pixel_max": 16.0, "name": "digits"}
    )


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``digits.csv.gz`` read as ``load_digits`` reads it (64 pixels then the label
    per row), found without importing scikit-learn, whose import costs more than the whole
    quickstart's training; ``load_digits`` itself where the file is not where it has always been."""
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is None or not csv.is_file():
        # lazy: the fallback pays scikit-learn's import only when its layout changed
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(csv, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)
