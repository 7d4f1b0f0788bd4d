"""What a dataset source returns, the registry of sources, and where data is looked for."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knobwise.config import DataConfig
from knobwise.errors import DataError
from knobwise.registry import Registry

__all__ = ["Source", "SOURCES", "register_source", "list_sources", "load_source", "default_root"]


@dataclass
class Source:
    """Raw examples of a dataset, before splitting and normalization.

    Attributes:
        x: images, ``(N, C, H, W)``, ``uint8`` (0-255) or ``float32``.
        y: labels, ``(N,)`` ``int64`` in ``[0, len(classes))``.
        classes: class names, index = label.
        x_test, y_test: the dataset's own test set, when it has one.
        ids, ids_test: per-example identifiers (a file path, or the index in the original files)
            shown in error analysis.
        groups, groups_test: per-example source tag (multi-source datasets), or None.
        table: tabular sources: the attribute columns (target removed), encoded by ``prepare_data``
            once the split is known (``x`` is then an ``(N, 0, 1, 1)`` placeholder).
        meta: free-form facts about the load. Keys read by ``prepare_data``: ``pixel_max`` (the
            value that maps to 1.0; default 255 for ``uint8`` images, 1 for floats), ``skipped``
            (counted skips, shown by ``PreparedData.describe``).
    """

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    ids: np.ndarray | None = None
    ids_test: np.ndarray | None = None
    groups: np.ndarray | None = None
    groups_test: np.ndarray | None = None
    meta: dict[str, object] = field(default_factory=dict)
    table: dict[str, np.ndarray] | None = None


SourceLoader = Callable[[DataConfig, Path], Source]

#: Dataset sources by name (``data.dataset``).
SOURCES: Registry[SourceLoader] = Registry("dataset", key="data.dataset")


def register_source(name: str) -> Callable[[SourceLoader], SourceLoader]:
    """Decorator: register a loader ``fn(cfg, root) -> Source`` as ``data.dataset: name``."""
    return SOURCES.register(name)


def list_sources(pattern: str = "*") -> list[str]:
    """Names of the registered dataset sources."""
    return SOURCES.names(pattern)


def _check_variables(root: str) -> None:
    """A ``$VAR`` in ``data.root`` that is not set is named, instead of reading a literal
    ``${VAR}/...`` path that then "is not a folder".

    >>> _check_variables("${KW_UNSET_VAR}/x")
    Traceback (most recent call last):
    ...
    knobwise.errors.DataError: data.root '${KW_UNSET_VAR}/x' uses the environment variable KW_UNSET_VAR, ...
    """
    for match in re.finditer(r"\$(?:\{(\w+)\}|(\w+))", root):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise DataError(
                f"data.root {root!r} uses the environment variable {name}, which is not set; "
                f"set it (export {name}=/path/to/data) or set data.root"
            )


def default_root(dataset: str, root: str | None) -> Path:
    """Where ``dataset`` is read from: ``root`` (``$VARS`` and ``~`` expanded), else
    ``$KNOBWISE_DATA_DIR/<dataset>``, else ``~/.cache/knobwise/<dataset>``."""
    if root:
        _check_variables(root)
        return Path(os.path.expanduser(os.path.expandvars(root)))
    env = os.environ.get("KNOBWISE_DATA_DIR")
    if env:
        return Path(env) / dataset
    return Path.home() / ".cache" / "knobwise" / dataset


def load_source(cfg: DataConfig) -> Source:
    """Load ``cfg.dataset`` from its root."""
    loader = SOURCES.get(cfg.dataset)
    return loader(cfg, default_root(cfg.dataset, cfg.root))
