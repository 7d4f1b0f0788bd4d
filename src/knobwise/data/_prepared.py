"""What :func:`~knobwise.data.prepare_data` returns: the splits on the device and what was
fitted on train. A module of its own so that the data knobs (which change a split) and
``prepare_data`` (which calls them) both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from knobwise.data._normalize import Normalizer
from knobwise.data._split import imbalance_line
from knobwise.data._tabular import TabularEncoder

__all__ = ["SplitData", "PreparedData"]


@dataclass
class SplitData:
    """One split on the device.

    Attributes:
        x: ``float32`` ``(N, C, H, W)``, normalized.
        y: ``int64`` ``(N,)`` labels.
        index: positions in the source pool (or the own test set, when ``from_test_set``).
        ids: per-example identifiers (file path, index in the original files) or None.
        groups: per-example source tag or None.
        from_test_set: whether the examples come from the dataset's own test set.
        weight: ``float32`` ``(N,)`` per-example weights (``data.sample_weight``) or None.
    """

    x: torch.Tensor
    y: torch.Tensor
    index: np.ndarray
    ids: np.ndarray | None = None
    groups: np.ndarray | None = None
    from_test_set: bool = False
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class PreparedData:
    """Everything training and evaluation need from the data, on one device."""

    dataset: str
    splits: dict[str, SplitData]
    classes: list[str]
    input_shape: tuple[int, int, int]
    normalizer: Normalizer
    class_counts: dict[str, list[int]]
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Tabular data: the encoder fitted on train (attributes, categories, imputation), else None.
    tabular: TabularEncoder | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> list[str]:
        """Human-readable lines: dataset, shapes, split sizes and class counts, skips, warnings."""
        c, h, w = self.input_shape
        sources = self.meta.get("sources")
        what = f"sources {', '.join(map(str, sources))}" if sources else f"dataset {self.dataset}"
        shape = f"{c} attribute inputs" if self.tabular is not None else f"input {c}x{h}x{w}"
        lines = [f"{what}: {self.num_classes} classes, {shape}, normalize {self.normalizer.mode}"]
        if self.tabular is not None:
            lines.extend(f"  {line}" for line in self.tabular.describe())
        for name, split in self.splits.items():
            src = " (own test set)" if split.from_test_set else ""
            counts = " ".join(str(n) for n in self.class_counts[name])
            lines.append(f"  {name:<9} {len(split):>7} examples{src}; per class: {counts}")
        skipped = self.meta.get("skipped") or {}
        if skipped:
            lines.append("  skipped: " + ", ".join(f"{n} {what}" for what, n in sorted(skipped.items())))
        lines.extend(f"  warning: {w}" for w in self.warnings)
        imbalance = [imbalance_line(name, counts, self.classes) for name, counts in self.class_counts.items()]
        lines.extend(f"  {line}" for line in [*imbalance, *self.meta.get("notes", [])])
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary saved with a run."""
        return {
            "dataset": self.dataset,
            "classes": list(self.classes),
            "input_shape": list(self.input_shape),
            "normalizer": self.normalizer.to_dict(),
            "splits": {k: len(v) for k, v in self.splits.items()},
            "class_counts": {k: list(v) for k, v in self.class_counts.items()},
            **({"tabular": self.tabular.to_dict()} if self.tabular is not None else {}),
        }
