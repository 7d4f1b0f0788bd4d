"""The data entry point: load a source, split it, fit normalization on train, move it to the device.

``prepare_data(cfg, seed, device)`` is deterministic in ``(cfg, seed)``: the ``evaluate`` command
recomputes exactly the split the run was trained on.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from knobwise.config import DataConfig
from knobwise.data._cleaning import apply_cleaning
from knobwise.data._keras_preprocess import KERAS_KEYS, apply_steps, fit_steps
from knobwise.data._normalize import Normalizer
from knobwise.data._prepared import PreparedData, SplitData
from knobwise.data._source import Source, load_source
from knobwise.data._sources_multi import load_sources
from knobwise.data._split import LIMIT_SEED, class_counts, stratified_subset
from knobwise.data._tabular import TabularEncoder, encode_source
from knobwise.data._training_knobs import build_train_knobs, plan_pool, split_weights
from knobwise.errors import DataError
from knobwise.objective import SPLITS

__all__ = ["prepare_data"]


def _pixel_max(src: Source) -> float:
    if "pixel_max" in src.meta:
        return float(src.meta["pixel_max"])  # type: ignore[arg-type]
    return 255.0 if src.x.dtype == np.uint8 else 1.0


def _take(arr: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if arr is None else arr[idx]


def _check_source(src: Source, name: str) -> None:
    if src.x.ndim != 4 or len(src.x) != len(src.y):
        raise DataError(f"data.dataset {name}: source gave x {src.x.shape} and y {src.y.shape}")
    if src.x_test is not None and src.x_test.shape[1:] != src.x.shape[1:]:
        raise DataError(
            f"data.dataset {name}: test images {src.x_test.shape[1:]} differ from {src.x.shape[1:]}"
        )


def _trace_split(name: str) -> None:
    trace = os.environ.get("KNOBWISE_TRACE_SPLITS")
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {name}\n")


def _keras_preprocess(cfg: DataConfig, normalizer: Normalizer, splits: dict[str, SplitData]) -> Normalizer:
    """Fit Keras's featurewise/samplewise/ZCA steps on the (normalized) training split, apply them
    to every split, and return the normalizer that includes them."""
    opts: dict[str, Any] = {k: getattr(cfg, k) for k in KERAS_KEYS}
    if not any(opts.values()) or "train" not in splits:
        return normalizer
    opts["zca_epsilon"] = cfg.zca_epsilon
    steps = fit_steps(splits["train"].x, opts)
    for split in splits.values():
        apply_steps(split.x, steps)
    return normalizer.with_steps(steps)


def prepare_data(
    cfg: DataConfig, seed: int, device: torch.device | str = "cpu", withhold: tuple[str, ...] = ()
) -> PreparedData:
    """Load ``cfg.dataset``, split it with ``seed``, normalize with train statistics, move to ``device``.

    Splits named in ``withhold`` are planned (so the others do not change) but never materialized:
    tuning withholds ``test``. When ``$KNOBWISE_TRACE_SPLITS`` names a file, the name of every split
    that is materialized is appended to it (instrumentation that proves what a process read).

    >>> from knobwise.config import DataConfig
    >>> data = prepare_data(DataConfig(dataset="digits"), seed=0)
    >>> {k: len(v) for k, v in data.splits.items()}
    {'train': 1437, 'dev': 180, 'test': 180}
    >>> data.input_shape, data.num_classes
    ((1, 8, 8), 10)
    """
    device = torch.device(device)
    src = load_sources(cfg) if cfg.sources else load_source(cfg)
    _check_source(src, cfg.dataset)
    k = len(src.classes)
    warnings: list[str] = []

    keep, w = stratified_subset(src.y, cfg.limit, LIMIT_SEED, "data.limit", cfg.split.stratify)
    warnings += w
    use_test = src.y_test is not None and cfg.split.own_test
    keep_t = np.arange(0)
    if use_test:
        assert src.y_test is not None  # narrowed for the type checker; checked just above
        keep_t, w = stratified_subset(
            src.y_test, cfg.test_limit, LIMIT_SEED, "data.test_limit", cfg.split.stratify
        )
        warnings += w
    plan = plan_pool(cfg, src, keep, src.y_test[keep_t] if use_test else None, seed)  # type: ignore[index]
    warnings += plan.warnings

    # Positions into the source pool / own test set for every split.
    where: dict[str, tuple[np.ndarray, bool]] = {}
    for name in SPLITS:
        if name in plan.indices:
            test_side = plan.from_test_set[name]
            base = keep_t if test_side else keep
            where[name] = (base[plan.indices[name]], test_side)
    if cfg.exclude or cfg.relabel:  # the cleaning loop, after planning so the split stays put
        where, src, cleaned = apply_cleaning(cfg, where, src)
        warnings += cleaned

    tabular: TabularEncoder | None = None
    if src.table is not None:  # records: encode with what the training rows say, then normalize
        src, tabular, normalizer = encode_source(cfg, src, where["train"][0])
    weights = split_weights(cfg, src, where)
    pixel_max = _pixel_max(src)
    if tabular is None:
        normalizer = Normalizer.fit(src.x[where["train"][0]], cfg.normalize, pixel_max)
    splits: dict[str, SplitData] = {}
    counts: dict[str, list[int]] = {}
    for name, (idx, test_side) in where.items():
        if name in withhold:
            continue
        _trace_split(name)
        x_np = src.x_test if test_side else src.x
        y_np = src.y_test if test_side else src.y
        assert x_np is not None and y_np is not None
        x = torch.from_numpy(np.ascontiguousarray(x_np[idx])).to(device=device, dtype=torch.float32)
        y = torch.from_numpy(y_np[idx].astype(np.int64)).to(device)
        splits[name] = SplitData(
            x=normalizer.apply_(x),
            y=y,
            index=idx,
            ids=_take(src.ids_test if test_side else src.ids, idx),
            groups=_take(src.groups_test if test_side else src.groups, idx),
            from_test_set=test_side,
        )
        if name in weights:
            splits[name].weight = torch.from_numpy(weights[name].astype(np.float32)).to(device)
        counts[name] = class_counts(y_np[idx], k)
    normalizer = _keras_preprocess(cfg, normalizer, splits)
    train_counts, notes = build_train_knobs(cfg, splits, normalizer, k, seed)
    if train_counts is not None:
        counts["train"] = train_counts
    c, h, w_ = src.x.shape[1:]
    return PreparedData(
        dataset=cfg.dataset,
        splits=splits,
        classes=list(src.classes),
        input_shape=(int(c), int(h), int(w_)),
        normalizer=normalizer,
        class_counts=counts,
        warnings=warnings,
        meta={**src.meta, "notes": notes},
        tabular=tabular,
    )
