"""Tabular dataset sources: ``csv`` and ``parquet`` files, and scikit-learn's bundled
``breast_cancer`` (569 records, 30 numeric attributes, malignant/benign) and ``wine`` (178 records,
13 numeric attributes, 3 cultivars), offline.

A source returns the attribute columns as ``Source.table`` with the target turned into labels;
the encoding (attributes, categories, imputation) is fitted later, on the training split only.
Class names come from the target's values, sorted (numerically when they are all numbers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knobwise.config import TABULAR_DATASETS, DataConfig
from knobwise.data._source import Source, register_source
from knobwise.data._tabular import is_missing
from knobwise.data._tabular_read import Columns, read_table
from knobwise.errors import DataError
from knobwise.registry import closest

__all__ = ["TABULAR_DATASETS", "table_source", "load_csv", "load_parquet", "load_breast_cancer", "load_wine"]


def _class_order(texts: list[str]) -> list[str]:
    try:
        return sorted(texts, key=float)
    except ValueError:
        return sorted(texts)


def table_source(columns: Columns, ids: np.ndarray, target: str | None, source: str, name: str) -> Source:
    """A :class:`Source` of ``columns`` with ``target`` as the class column.

    >>> cols = {"a": np.array(["1", "2"], dtype=object), "y": np.array(["no", "yes"], dtype=object)}
    >>> src = table_source(cols, np.array(["r0", "r1"]), "y", "t.csv", "csv")
    >>> src.classes, src.y.tolist(), list(src.table)
    (['no', 'yes'], [0, 1], ['a'])
    """
    names = list(columns)
    if target is None:
        raise DataError(
            f"data.target: name the column of {source} that holds the class (columns: {', '.join(names)})"
        )
    if target not in columns:
        near = closest(target, names)
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        raise DataError(f"data.target: no column {target!r} in {source}{hint} (columns: {', '.join(names)})")
    values = columns[target]
    missing = is_missing(values)
    if missing.any():
        first = ids[int(np.flatnonzero(missing)[0])]
        raise DataError(
            f"data.target {target!r}: {int(missing.sum())} record(s) have no class (first: {first}); "
            "remove them or fill the class in"
        )
    texts = [str(v).strip() for v in values]
    if values.dtype.kind == "f":
        texts = [str(int(v)) if float(v).is_integer() else str(v) for v in values]
    if not texts:
        raise DataError(f"{source}: no records")
    classes = _class_order(sorted(set(texts)))
    if len(classes) < 2:
        raise DataError(f"data.target {target!r}: every record has the class {classes[0]!r}; need at least 2")
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[t] for t in texts], dtype=np.int64)
    table = {k: v for k, v in columns.items() if k != target}
    x = np.zeros((len(y), 0, 1, 1), np.float32)  # encoded by prepare_data after the split
    return Source(
        x=x, y=y, classes=classes, ids=ids, table=table, meta={"name": name, "root": source, "target": target}
    )


def _file(root: Path, suffixes: tuple[str, ...], kind: str) -> Path:
    if root.is_dir():
        found = sorted(p for s in suffixes for p in root.glob(f"*{s}"))
        if len(found) != 1:
            raise DataError(
                f"{kind}: {root} must hold exactly one {suffixes[0]} file, found {len(found)}; "
                "set data.root to the file"
            )
        return found[0]
    if not root.is_file():
        raise DataError(f"{kind}: no file at {root}; set data.root to a {suffixes[0]} file")
    return root


@register_source("csv")
def load_csv(cfg: DataConfig, root: Path) -> Source:
    """A CSV file with a header row; ``data.target`` names the class column.

    >>> import tempfile
    >>> from knobwise.config import DataConfig
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("age,y\\n30,a\\n40,b\\n")
    >>> load_csv(DataConfig(dataset="csv", target="y"), p).classes
    ['a', 'b']
    """
    path = _file(root, (".csv",), "csv")
    cols, ids = read_table(path)
    return table_source(cols, ids, cfg.target, str(path), "csv")


@register_source("parquet")
def load_parquet(cfg: DataConfig, root: Path) -> Source:
    """A parquet file (read with pyarrow); ``data.target`` names the class column."""
    path = _file(root, (".parquet", ".pq"), "parquet")
    cols, ids = read_table(path)
    return table_source(cols, ids, cfg.target, str(path), "parquet")


def _bundled(name: str, cfg: DataConfig) -> Source:
    # lazy: sklearn.datasets loads only for the bundled tables (breast_cancer, wine)
    from sklearn import datasets

    if cfg.target not in (None, "target"):
        raise DataError(f"data.target: {name}'s class column is 'target', got {cfg.target!r}")
    bunch = getattr(datasets, f"load_{name}")()
    feats = [str(f) for f in bunch.feature_names]
    cols: Columns = {f: np.asarray(bunch.data[:, j], dtype=np.float64) for j, f in enumerate(feats)}
    ids = np.array([f"{name}[{i}]" for i in range(len(bunch.target))])
    src = table_source({**cols, "target": np.asarray(bunch.target)}, ids, "target", name, name)
    src.classes = [str(c) for c in bunch.target_names]  # the names, in label order
    return src


@register_source("breast_cancer")
def load_breast_cancer(cfg: DataConfig, root: Path) -> Source:
    """scikit-learn's Wisconsin breast-cancer set (``root`` unused: it ships with scikit-learn).

    >>> from knobwise.config import DataConfig
    >>> src = load_breast_cancer(DataConfig(dataset="breast_cancer"), Path("."))
    >>> len(src.y), len(src.table), src.classes
    (569, 30, ['malignant', 'benign'])
    """
    return _bundled("breast_cancer", cfg)


@register_source("wine")
def load_wine(cfg: DataConfig, root: Path) -> Source:
    """scikit-learn's wine set: 178 records, 13 attributes, 3 cultivars (``root`` unused).

    >>> from knobwise.config import DataConfig
    >>> load_wine(DataConfig(dataset="wine"), Path(".")).classes
    ['class_0', 'class_1', 'class_2']
    """
    return _bundled("wine", cfg)
