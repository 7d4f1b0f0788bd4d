"""The 8x8 handwritten digits bundled with scikit-learn (1,797 images, no own test set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

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
    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    ids = np.array([f"digits[{i}]" for i in range(len(y))])
    return Source(
        x=x, y=y, classes=[str(c) for c in range(10)], ids=ids, meta={"pixel_max": 16.0, "name": "digits"}
    )
