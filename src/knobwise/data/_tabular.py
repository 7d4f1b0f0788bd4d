"""Records described by attributes: encoding fitted on the training split, saved with the run.

A tabular dataset is a table of columns (a CSV file, a parquet file, or a bundled scikit-learn
set) with one target column. :class:`TabularEncoder` is fitted on the *training rows only*: which
columns are attributes (all but the target and ``data.attributes.exclude``), the categories of
each categorical attribute (one-hot; a category first seen in dev, test or at prediction time
encodes as all zeros), and the imputation values (train mean, or the most frequent train
category) under ``data.missing: impute``. Under the default ``data.missing: error`` a missing
value in any attribute that reaches the model is an error naming the column and the row.

An encoded record of F columns is an ``F x 1 x 1`` input: one channel per column, so the
per-channel normalizer is a per-attribute normalizer (fitted on train) and every image-shaped path
(batching, metrics, leakage, latency, export) works unchanged. Numeric columns are normalized as
``data.normalize`` says; one-hot columns stay 0/1. ``data.attributes.weights`` is folded into the
normalizer's scale, so training, evaluation and prediction all apply it.

Example:
    >>> import numpy as np
    >>> from knobwise.config import DataConfig
    >>> cols = {"age": np.array(["30", "40", "50"], dtype=object),
    ...         "smoker": np.array(["yes", "no", "yes"], dtype=object),
    ...         "sex": np.array(["f", "m", "f"], dtype=object)}
    >>> cfg = DataConfig(dataset="csv", attributes={"exclude": ["sex"], "categorical": ["smoker"]})
    >>> enc = TabularEncoder.fit(cols, np.arange(3), cfg, target="y", source="t.csv")
    >>> enc.features
    ['age', 'smoker=no', 'smoker=yes']
    >>> enc.encode(cols).tolist()[0]
    [30.0, 0.0, 1.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import DataConfig
from knobwise.data._normalize import Normalizer
from knobwise.data._source import Source
from knobwise.data._tabular_read import Columns, read_table
from knobwise.errors import ConfigError, DataError
from knobwise.registry import closest

__all__ = [
    "Columns",
    "MISSING_TOKENS",
    "Attribute",
    "TabularEncoder",
    "encode_source",
    "fit_tabular_normalizer",
    "is_missing",
    "tabular_inputs",
]

#: Cell texts read as a missing value (compared lower-case, stripped).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


def is_missing(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the missing cells of one column.

    >>> is_missing(np.array(["1", " ", "NA", "?"], dtype=object)).tolist()
    [False, True, True, True]
    """
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    return np.array([v is None or str(v).strip().lower() in MISSING_TOKENS for v in values], dtype=bool)


def _text(v: Any) -> str:
    """A cell as category text: ``3.0`` reads ``3``, strings are stripped."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _numbers(values: np.ndarray, column: str, missing: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
    """A column as float64 (NaN where missing); a non-numeric cell is a :class:`DataError`."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if missing[i]:
            continue
        try:
            out[i] = float(str(v).strip())
        except ValueError:
            where = _row_name(ids, i)
            raise DataError(
                f"data.attributes: column {column!r} has the non-numeric value {str(v)!r} ({where}); "
                "list it in data.attributes.categorical (one-hot) or data.attributes.exclude"
            ) from None
    return out


def _row_name(ids: np.ndarray | None, i: int) -> str:
    return str(ids[i]) if ids is not None else f"row {i}"


def _unknown(key: str, names: Sequence[str], columns: Sequence[str], source: str) -> None:
    for name in names:
        if name not in columns:
            near = closest(name, list(columns))
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise DataError(f"{key}: no column {name!r} in {source}{hint} (columns: {', '.join(columns)})")


@dataclass
class Attribute:
    """One attribute that reaches the model.

    Attributes:
        name: the column.
        kind: ``numeric`` or ``categorical``.
        weight: ``data.attributes.weights`` (1 when unset).
        categories: categorical only: the training categories, one one-hot column each.
        fill: the imputation value (train mean or most frequent category), None when nothing is imputed.
    """

    name: str
    kind: str
    weight: float = 1.0
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None

    @property
    def features(self) -> list[str]:
        """The encoded column names: the attribute, or ``name=category`` per one-hot column."""
        return [f"{self.name}={c}" for c in self.categories] if self.kind == "categorical" else [self.name]


@dataclass
class TabularEncoder:
    """Maps a table's columns to model inputs, as fitted on the training rows (see the module)."""

    target: str
    attributes: list[Attribute]
    excluded: list[str]
    missing: str = "error"
    source: str = ""

    @property
    def features(self) -> list[str]:
        """Names of the encoded input columns, in the model's input order."""
        return [f for a in self.attributes for f in a.features]

    @property
    def columns(self) -> list[str]:
        """The table columns a record needs (the attributes that reach the model)."""
        return [a.name for a in self.attributes]

    @classmethod
    def fit(
        cls,
        columns: Columns,
        train: np.ndarray,
        cfg: DataConfig,
        *,
        target: str,
        source: str,
        ids: np.ndarray | None = None,
    ) -> TabularEncoder:
        """Fit on the rows ``train`` of ``columns`` (which no longer hold the target)."""
        attrs = cfg.attributes
        exclude = list(attrs.exclude) if attrs else []
        weights = dict(attrs.weights) if attrs else {}
        categorical = list(attrs.categorical) if attrs else []
        names = list(columns)
        for key, listed in (("exclude", exclude), ("weights", list(weights)), ("categorical", categorical)):
            if target in listed:
                raise DataError(f"data.attributes.{key}: {target!r} is the target column (data.target)")
            _unknown(f"data.attributes.{key}", listed, names, source)
        used = [n for n in names if n not in exclude]
        if not used:
            raise DataError(f"data.attributes.exclude leaves no attribute of {source} for the model")
        out: list[Attribute] = []
        impute = cfg.missing == "impute"  # fill values are kept for new records at prediction time too
        for name in used:
            values = columns[name]
            missing = is_missing(values)
            if missing.any() and cfg.missing == "error":
                _missing_error(name, missing, ids)
            tr_missing = missing[train]
            if name in categorical:
                texts = [_text(v) for v in values[train][~tr_missing]]
                cats, counts = np.unique(np.array(texts, dtype=object), return_counts=True)
                fill = str(cats[int(np.argmax(counts))]) if impute and len(cats) else None
                attr = Attribute(name, "categorical", weights.get(name, 1.0), [str(c) for c in cats], fill)
            else:
                nums = _numbers(values, name, missing, ids)[train]
                seen = nums[~tr_missing]
                fill_num = (float(seen.mean()) if len(seen) else 0.0) if impute else None
                attr = Attribute(name, "numeric", weights.get(name, 1.0), [], fill_num)
            out.append(attr)
        return cls(target, out, exclude, cfg.missing, source)

    def encode(self, columns: Mapping[str, np.ndarray], ids: np.ndarray | None = None) -> np.ndarray:
        """``(N, F)`` float32 inputs of the rows of ``columns`` (extra columns are ignored).

        A required column that is absent is a :class:`DataError` naming every absent one.
        """
        absent = [c for c in self.columns if c not in columns]
        if absent:
            raise DataError(
                f"{', '.join(repr(c) for c in absent)}: required column{'s' if len(absent) > 1 else ''} "
                f"missing (the model was trained on {', '.join(self.columns)})"
            )
        n = len(next(iter(columns.values()))) if columns else 0
        parts: list[np.ndarray] = []
        for a in self.attributes:
            values = np.asarray(columns[a.name])
            missing = is_missing(values)
            if missing.any() and (self.missing == "error" or a.fill is None):
                _missing_error(a.name, missing, ids)
            if a.kind == "numeric":
                nums = _numbers(values, a.name, missing, ids)
                nums[missing] = a.fill
                parts.append(nums[:, None])
            else:
                texts = [a.fill if m else _text(v) for v, m in zip(values, missing, strict=True)]
                lookup = {c: j for j, c in enumerate(a.categories)}
                onehot = np.zeros((n, len(a.categories)))
                for i, t in enumerate(texts):
                    j = lookup.get(str(t))
                    if j is not None:  # a category never seen in training: all zeros
                        onehot[i, j] = 1.0
                parts.append(onehot)
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((n, 0), np.float32)

    def decode(self, x: np.ndarray, normalizer: Normalizer | None = None) -> list[dict[str, Any]]:
        """Attribute rows ``{attribute: value}`` of inputs ``x`` ``(N, F[, 1, 1])``, normalized by
        ``normalizer`` when given (its inverse is applied). A categorical attribute shows its
        category (``?`` when the record's category was never seen in training); an imputed value
        shows as imputed.
        """
        z = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if normalizer is not None:
            z = z * np.asarray(normalizer.scale)[None] + np.asarray(normalizer.shift)[None]
        rows: list[dict[str, Any]] = [{} for _ in range(len(z))]
        j = 0
        for a in self.attributes:
            width = len(a.features)
            block = z[:, j : j + width]
            for i, row in enumerate(rows):
                if a.kind == "numeric":
                    row[a.name] = float(f"{block[i, 0]:.6g}")
                else:
                    hot = block[i] > 0.5
                    row[a.name] = a.categories[int(np.argmax(block[i]))] if hot.any() else "?"
            j += width
        return rows

    def groups(self) -> list[tuple[str, list[int]]]:
        """(attribute, its input columns): one column for a numeric attribute, one per category."""
        out, j = [], 0
        for a in self.attributes:
            out.append((a.name, list(range(j, j + len(a.features)))))
            j += len(a.features)
        return out

    def describe(self) -> list[str]:
        """Lines for the log: attributes used (with weights), categorical, excluded, missing policy."""
        used = ", ".join(
            a.name + (f" (weight {a.weight:g})" if a.weight != 1 else "") for a in self.attributes
        )
        lines = [f"attributes ({len(self.attributes)} -> {len(self.features)} inputs): {used}"]
        cats = [f"{a.name} ({len(a.categories)})" for a in self.attributes if a.kind == "categorical"]
        if cats:
            lines.append("categorical (one-hot, categories from train): " + ", ".join(cats))
        lines.append("excluded (never reach the model): " + (", ".join(self.excluded) or "none"))
        if self.missing == "impute":
            lines.append("missing values: imputed with train statistics (mean, most frequent category)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, the inverse of :meth:`from_dict` (saved in ``model.json``)."""
        return {
            "target": self.target,
            "source": self.source,
            "missing": self.missing,
            "excluded": list(self.excluded),
            "features": self.features,
            "attributes": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "weight": a.weight,
                    "categories": a.categories,
                    "fill": a.fill,
                }
                for a in self.attributes
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TabularEncoder:
        try:
            attrs = [
                Attribute(a["name"], a["kind"], float(a["weight"]), list(a["categories"]), a["fill"])
                for a in d["attributes"]
            ]
            return cls(d["target"], attrs, list(d["excluded"]), d["missing"], d.get("source", ""))
        except (KeyError, TypeError) as exc:
            raise DataError(f"tabular encoder: malformed description ({exc})") from exc


def _missing_error(name: str, missing: np.ndarray, ids: np.ndarray | None) -> None:
    first = _row_name(ids, int(np.flatnonzero(missing)[0]))
    raise DataError(
        f"data.missing is 'error' and column {name!r} has {int(missing.sum())} missing value(s) "
        f"(first: {first}); set data.missing: impute to fill them with train statistics, "
        "or exclude the column (data.attributes.exclude)"
    )


def fit_tabular_normalizer(encoder: TabularEncoder, x_train: np.ndarray, mode: str) -> Normalizer:
    """Per-attribute normalization fitted on the encoded training rows ``(N, F, 1, 1)``: numeric
    columns as ``mode`` says, one-hot columns unchanged; each column's scale divided by its
    attribute's weight (so the normalized value is multiplied by it)."""
    norm = Normalizer.fit(x_train, mode, pixel_max=1.0)
    shift, scale = list(norm.shift), list(norm.scale)
    j = 0
    for a in encoder.attributes:
        for _ in a.features:
            if a.kind == "categorical":
                shift[j], scale[j] = 0.0, 1.0
            scale[j] /= a.weight
            j += 1
    return Normalizer(mode, shift, scale, pixel_max=1.0)


def encode_source(
    cfg: DataConfig, src: Source, train: np.ndarray
) -> tuple[Source, TabularEncoder, Normalizer]:
    """Fit the encoder and the per-attribute normalizer on the rows ``train`` of a tabular source
    and return the source with its records encoded as ``x`` ``(N, F, 1, 1)``."""
    for key, value in (("augment", cfg.augment), ("expand", cfg.expand)):
        if value:
            raise ConfigError(
                f"data.{key} applies to images; {cfg.dataset} is tabular data: remove data.{key}"
            )
    if cfg.balance is not None and cfg.balance.method == "augment_minority":
        raise ConfigError(f"data.balance augment_minority applies to images; {cfg.dataset} is tabular data")
    assert src.table is not None
    target = str(src.meta.get("target", cfg.target))
    encoder = TabularEncoder.fit(
        src.table, train, cfg, target=target, source=str(src.meta.get("root", cfg.dataset)), ids=src.ids
    )
    x = encoder.encode(src.table, src.ids)[:, :, None, None]
    normalizer = fit_tabular_normalizer(encoder, x[train], cfg.normalize)
    return dataclasses.replace(src, x=x), encoder, normalizer


def _rows_to_columns(rows: Sequence[Mapping[str, Any]]) -> Columns:
    names: list[str] = []
    for r in rows:
        names += [str(k) for k in r if str(k) not in names]
    return {n: np.array([r.get(n) for r in rows], dtype=object) for n in names}


def tabular_inputs(
    records: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    data_meta: Mapping[str, Any],
) -> torch.Tensor:
    """Model inputs ``(N, F, 1, 1)`` for new records, with everything fitted at training applied
    (attributes, categories, imputation, normalization, weights).

    ``records``: a CSV (or parquet) path, a list of ``{column: value}`` rows, or a mapping of
    columns. ``data_meta`` is the ``data`` section of a run's ``model.json``. Excluded columns, the
    target and unknown columns may be present and are ignored; an absent required column is a
    :class:`DataError` naming it.

    >>> import numpy as np
    >>> from knobwise.config import DataConfig
    >>> from knobwise.data import prepare_data
    >>> data = prepare_data(DataConfig(dataset="wine", attributes={"exclude": ["alcohol"]}), seed=0)
    >>> meta = data.to_dict()
    >>> row = {f: 1.0 for f in meta["tabular"]["features"]}
    >>> tabular_inputs([row], meta).shape
    torch.Size([1, 12, 1, 1])
    """
    tab = data_meta.get("tabular") if isinstance(data_meta, Mapping) else None
    if not tab:
        raise DataError("the run was not trained on tabular data (its model.json has no data.tabular)")
    encoder = TabularEncoder.from_dict(tab)
    ids: np.ndarray | None = None
    if isinstance(records, str | Path):
        columns, ids = read_table(records)
    elif isinstance(records, Mapping):
        columns = {str(k): np.asarray(v, dtype=object) for k, v in records.items()}
    else:
        columns = _rows_to_columns(list(records))
    x = encoder.encode(columns, ids)
    norm = Normalizer.from_dict(data_meta["normalizer"])
    if norm.channels != x.shape[1]:
        raise ConfigError(f"model.json: {norm.channels} normalizer columns but {x.shape[1]} encoded inputs")
    return norm(torch.from_numpy(x[:, :, None, None]))
