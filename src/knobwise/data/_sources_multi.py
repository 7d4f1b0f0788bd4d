"""Multi-source datasets: ``data.sources: [{name, dataset, root, ...}, ...]``.

Every source is loaded with its own loader (``dataset`` is any registered source: folder, arrays,
mnist, ...), and its examples — its pool and its own test set, if any — are pooled, each tagged
with the source's ``name`` (``Source.groups``; metrics are later reported per source). Class
lists are merged by name; image shapes must agree (use ``image_size`` / ``grayscale``).

Splitting, by default, shuffles all sources together and stratifies on (class, source), so
train, dev and test share every distribution. ``data.split.by_source`` instead places named
sources in named splits (``{train: [hq], dev: [lq], test: [lq]}``); a source named in several
splits is divided between them in proportion to their ``data.split`` fractions, and a train-dev
split is then carved from train.

Example:
    >>> from knobwise.config import DataConfig
    >>> cfg = DataConfig(sources=[{"name": "a", "dataset": "digits"}, {"name": "b", "dataset": "digits"}])
    >>> src = load_sources(cfg)
    >>> sorted(set(src.groups.tolist())), len(src.y)
    (['a', 'b'], 3594)
"""

from __future__ import annotations

import numpy as np

from knobwise.config import DataConfig, SplitConfig
from knobwise.data._source import Source, load_source
from knobwise.data._split import SplitPlan, _count, _cut, stratified_subset
from knobwise.errors import DataError

__all__ = ["load_sources", "source_strata", "plan_by_source"]


def load_sources(cfg: DataConfig) -> Source:
    """Load and pool every source of ``cfg.sources`` into one tagged :class:`Source`."""
    assert cfg.sources
    parts: list[tuple[str, np.ndarray, np.ndarray, list[str], np.ndarray, float]] = []
    for s in cfg.sources:
        sub = DataConfig(
            dataset=s.dataset,
            root=s.root,
            download=s.download,
            limit=s.limit,
            test_limit=s.test_limit,
            image_size=s.image_size or cfg.image_size,
            grayscale=s.grayscale if s.grayscale is not None else cfg.grayscale,
        )
        src = load_source(sub)
        if src.table is not None:
            raise DataError(
                f"data.sources: {s.name} is tabular data ({s.dataset}); several tagged sources are for "
                "images: put the records in one file (a column can tag their source)"
            )
        pm = float(src.meta.get("pixel_max", 255.0 if src.x.dtype == np.uint8 else 1.0))  # type: ignore[arg-type]
        keep, _ = stratified_subset(src.y, s.limit)
        xs, ys = [src.x[keep]], [src.y[keep]]
        ids = [src.ids[keep] if src.ids is not None else np.array([f"pool[{i}]" for i in keep])]
        if src.x_test is not None and src.y_test is not None:
            keep_t, _ = stratified_subset(src.y_test, s.test_limit)
            xs.append(src.x_test[keep_t])
            ys.append(src.y_test[keep_t])
            ids.append(
                src.ids_test[keep_t] if src.ids_test is not None else np.array([f"test[{i}]" for i in keep_t])
            )
        x, y = np.concatenate(xs), np.concatenate(ys)
        tagged = np.array([f"{s.name}:{i}" for i in np.concatenate(ids).astype(str)])
        parts.append((s.name, x, y, list(src.classes), tagged, pm))
    first = parts[0]
    for name, x, *_ in parts[1:]:
        if x.shape[1:] != first[1].shape[1:]:
            raise DataError(
                f"data.sources: source {name!r} has images {'x'.join(map(str, x.shape[1:]))} but "
                f"{first[0]!r} has {'x'.join(map(str, first[1].shape[1:]))}; set image_size and grayscale"
            )
    same = all(p[3] == first[3] for p in parts)
    classes = first[3] if same else sorted({c for p in parts for c in p[3]})
    uniform = all(p[1].dtype == first[1].dtype and p[5] == first[5] for p in parts)
    xs_out, ys_out = [], []
    for _, x, y, cls, _, pm in parts:
        lut = np.array([classes.index(c) for c in cls], dtype=np.int64)
        ys_out.append(lut[y])
        xs_out.append(x if uniform else (x.astype(np.float32) / pm))
    return Source(
        x=np.concatenate(xs_out),
        y=np.concatenate(ys_out),
        classes=classes,
        ids=np.concatenate([p[4] for p in parts]),
        groups=np.concatenate([np.full(len(p[2]), p[0]) for p in parts]),
        meta={"name": "sources", "pixel_max": first[5] if uniform else 1.0, "sources": [p[0] for p in parts]},
    )


def source_strata(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """A label per (class, source) pair: stratifying on it puts every source in every split."""
    _, g = np.unique(groups, return_inverse=True)
    return y.astype(np.int64) * (int(g.max()) + 1) + g


def plan_by_source(y: np.ndarray, groups: np.ndarray, split: SplitConfig, seed: int) -> SplitPlan:
    """Positions of each split when ``split.by_source`` places sources in splits."""
    by = split.by_source
    assert by is not None
    strata = source_strata(y, groups)
    warnings: list[str] = []
    out: dict[str, list[np.ndarray]] = {"train": [], "dev": [], "test": []}
    frac = {"train": split.train, "dev": split.dev, "test": split.test}
    for source in sorted(set(groups.tolist())):
        members = np.flatnonzero(groups == source)
        targets = [name for name in ("train", "dev", "test") if source in by.get(name, [])]  # type: ignore[call-overload]
        if not targets:
            warnings.append(
                f"data.split.by_source: source {source!r} is in no split; "
                f"its {len(members)} examples are unused"
            )
            continue
        rest = members
        total = sum(frac[t] for t in targets) or float(len(targets))
        for i, name in enumerate(targets):
            if i == len(targets) - 1:
                out[name].append(rest)
                break
            share = (frac[name] or 1.0) / total
            n_take = int(round(share * len(members)))
            rest, taken = _cut(
                rest, strata, n_take, seed + i, split.stratify, f"by_source {source}", warnings
            )
            out[name].append(taken)
    indices = {k: np.sort(np.concatenate(v)) for k, v in out.items() if v}
    train = indices["train"]
    if split.train_dev > 0:
        n_td = _count(len(train), split.train_dev, "train_dev", "training examples")
        if n_td >= len(train):
            raise DataError(f"data.split.train_dev = {split.train_dev:g} leaves no training examples")
        indices["train"], indices["train_dev"] = _cut(
            train, strata, n_td, seed + 2, split.stratify, "train_dev split", warnings
        )
    indices = {k: v for k, v in indices.items() if len(v)}
    return SplitPlan(indices=indices, from_test_set={k: False for k in indices}, warnings=warnings)
