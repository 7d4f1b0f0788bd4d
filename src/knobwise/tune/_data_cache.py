"""Prepared data kept by a worker between its trials.

Preparing the data (loading, splitting, normalizing, moving to the device) is the same work for
every trial whose sampled config has the same ``data:`` section and seed, so a worker prepares it
once and hands the same :class:`~knobwise.data.PreparedData` to each such trial. Training only
reads it. The key is the JSON of the data section, the seed, the withheld splits and the device;
a trial that samples a data knob gets its own entry, and the oldest entry is dropped beyond
``size`` so that a search over data knobs does not hold every variant in memory.

Example:
    >>> from knobwise.config import load_config
    >>> cache = DataCache(size=1)
    >>> cfg = load_config(None, ["data.limit=200"])
    >>> cache.get(cfg, ("test",)) is cache.get(cfg, ("test",)), cache.hits, cache.misses
    (True, 1, 1)
    >>> "test" in cache.get(cfg, ("test",)).splits  # withheld: never loaded
    False
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

import torch

from knobwise.config import ExperimentConfig
from knobwise.data import PreparedData, prepare_data
from knobwise.device import resolve_device

__all__ = ["DataCache"]


class DataCache:
    """The last ``size`` prepared datasets of this process, keyed by what they were made from."""

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, PreparedData] = OrderedDict()

    @staticmethod
    def key(cfg: ExperimentConfig, withhold: Sequence[str], device: torch.device) -> str:
        """What the prepared data depends on: the data section, the seed, the withheld splits, the device."""
        data = cfg.data.model_dump(mode="json")
        return json.dumps([data, cfg.seed, sorted(withhold), str(device)], sort_keys=True)

    def get(self, cfg: ExperimentConfig, withhold: Sequence[str] = ()) -> PreparedData:
        """The data of ``cfg`` with ``withhold`` never loaded; prepared on a miss."""
        device = resolve_device(cfg.train.device)
        key = self.key(cfg, withhold, device)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        if self.size <= 1:
            self._items.clear()  # free the old tensors before making the new ones
        torch.manual_seed(cfg.seed)  # as train_experiment does before preparing the data itself
        data = prepare_data(cfg.data, seed=cfg.seed, device=device, withhold=tuple(withhold))
        self._items[key] = data
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return data

    def clear(self) -> None:
        """Drop every entry (their tensors are freed once no run holds them)."""
        self._items.clear()
