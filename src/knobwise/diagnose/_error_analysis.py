"""Error analysis: which classes and confusions carry the errors, and which examples to look at.

The *ceiling* of a class (or a confusion pair) is the error that would remain if every error of
that class (or pair) were fixed: it tells how much working on it can buy at most, so the most
numerous category is fixed first. The classic manual step is supported too: export the
misclassified examples with empty tag columns, let a person mark them (blurry, mislabeled, ...),
and read the share of errors per tag back.

Example:
    >>> import numpy as np
    >>> from knobwise.metrics import Predictions
    >>> p = Predictions(np.arange(4), np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0]),
    ...                 np.array([[.9, .1], [.4, .6], [.2, .8], [.7, .3]], dtype=np.float32))
    >>> a = analyze_errors(p, ["cat", "dog"])
    >>> a["error"], a["per_class"][0]["class"], a["per_class"][0]["error_if_fixed"]
    (50.0, 'cat', 25.0)
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.errors import DataError
from knobwise.io import write_csv
from knobwise.metrics import Predictions

__all__ = ["analyze_errors", "export_errors", "tag_shares", "DEFAULT_TAGS", "EXPORT_FIELDS"]

#: Tag columns an export starts with (a person marks a cell with anything non-empty, e.g. "x").
DEFAULT_TAGS = ("mislabeled", "blurry", "ambiguous", "too_small", "other")
EXPORT_FIELDS = ("index", "id", "true", "predicted", "probability", "margin")


def _example(p: Predictions, r: int, classes: Sequence[str]) -> dict[str, Any]:
    return {
        "index": int(p.index[r]),
        "id": None if p.ids is None else str(p.ids[r]),
        "true": classes[int(p.true[r])],
        "predicted": classes[int(p.pred[r])],
        "probability": float(p.top1[r]),
        "margin": float(p.margin[r]),
    }


def analyze_errors(p: Predictions, classes: Sequence[str], top: int = 10) -> dict[str, Any]:
    """Per-class errors, top confusions, ceilings, lowest-confidence examples and per-source errors.

    Shares are fractions of all errors; errors and ceilings are percent of all examples.
    """
    n = len(p)
    wrong = p.true != p.pred
    n_err = int(wrong.sum())
    pct = (lambda k: 100.0 * k / n) if n else (lambda k: float("nan"))
    out: dict[str, Any] = {"examples": n, "errors": n_err, "error": pct(n_err)}
    per_class = []
    for c in range(len(classes)):
        mask = p.true == c
        e = int((wrong & mask).sum())
        per_class.append(
            {
                "class": classes[c],
                "examples": int(mask.sum()),
                "errors": e,
                "share": e / n_err if n_err else 0.0,
                "class_error": 100.0 * e / int(mask.sum()) if mask.any() else None,
                "error_if_fixed": pct(n_err - e),
            }
        )
    out["per_class"] = sorted(per_class, key=lambda d: (-d["errors"], d["class"]))
    pairs, counts = (
        np.unique(np.stack([p.true[wrong], p.pred[wrong]], axis=1), axis=0, return_counts=True)
        if n_err
        else (np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
    )
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts)) if n_err else np.zeros(0, dtype=np.int64)
    out["confusions"] = [
        {
            "true": classes[int(pairs[i, 0])],
            "predicted": classes[int(pairs[i, 1])],
            "errors": int(counts[i]),
            "share": int(counts[i]) / n_err,
            "error_if_fixed": pct(n_err - int(counts[i])),
        }
        for i in order[:top]
    ]
    top1 = p.top1
    rows_c, rows_w = np.flatnonzero(~wrong), np.flatnonzero(wrong)
    out["lowest_confidence_correct"] = [
        _example(p, int(r), classes) for r in rows_c[np.argsort(top1[rows_c], kind="stable")][:top]
    ]
    out["lowest_confidence_incorrect"] = [
        _example(p, int(r), classes) for r in rows_w[np.argsort(top1[rows_w], kind="stable")][:top]
    ]
    out["most_confident_incorrect"] = [
        _example(p, int(r), classes) for r in rows_w[np.argsort(-top1[rows_w], kind="stable")][:top]
    ]
    out["per_source"] = _per_source(p, wrong, n_err)
    return out


def _per_source(p: Predictions, wrong: np.ndarray, n_err: int) -> list[dict[str, Any]]:
    if p.source is None:
        return []
    rows = []
    for s in sorted(set(p.source.tolist())):
        mask = p.source == s
        e = int((wrong & mask).sum())
        rows.append(
            {
                "source": str(s),
                "examples": int(mask.sum()),
                "errors": e,
                "error": 100.0 * e / int(mask.sum()),
                "share": e / n_err if n_err else 0.0,
            }
        )
    return rows


def export_errors(
    p: Predictions, classes: Sequence[str], path: str | Path, tags: Sequence[str] = DEFAULT_TAGS
) -> int:
    """Write the misclassified examples (lowest confidence last) with empty tag columns; returns
    how many rows were written."""
    rows_w = np.flatnonzero(p.true != p.pred)
    rows_w = rows_w[np.argsort(-p.top1[rows_w], kind="stable")]
    rows = [{**_example(p, int(r), classes), **{t: "" for t in tags}, "note": ""} for r in rows_w]
    write_csv(path, rows, fields=[*EXPORT_FIELDS, *tags, "note"])
    return len(rows)


def tag_shares(p: Predictions, classes: Sequence[str], path: str | Path) -> dict[str, Any]:
    """Share of errors per tag from a filled-in export (see :func:`export_errors`).

    Every row must be a misclassified example of ``p`` with the same true and predicted class as
    exported; a person may review a subset. A cell counts as tagged when it is non-empty (and not
    0/no/false). The ceiling of a tag is the error left if all its errors were fixed.
    """
    f = Path(path)
    if not f.is_file():
        raise DataError(f"{f}: tags file not found")
    with f.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        missing = [c for c in ("index", "true", "predicted") if c not in header]
        if missing:
            raise DataError(f"{f}: not an error export: missing column(s) {', '.join(missing)}")
        tags = [c for c in header if c not in EXPORT_FIELDS and c != "note"]
        if not tags:
            raise DataError(f"{f}: no tag columns (add columns such as blurry, mislabeled)")
        rows = list(reader)
    wrong = {int(p.index[r]): r for r in np.flatnonzero(p.true != p.pred)}
    seen: set[int] = set()
    counts = dict.fromkeys(tags, 0)
    for line, row in enumerate(rows, start=2):
        try:
            idx = int(row["index"])
        except (TypeError, ValueError):
            raise DataError(f"{f}: line {line}: index {row['index']!r} is not an integer") from None
        r = wrong.get(idx)
        expect = (classes[int(p.true[r])], classes[int(p.pred[r])]) if r is not None else None
        if expect is None or (row["true"], row["predicted"]) != expect or idx in seen:
            why = "is repeated" if idx in seen else "is not a misclassified example of this run and split"
            if expect is not None and idx not in seen:
                why = f"says {row['true']}->{row['predicted']}, the export has {expect[0]}->{expect[1]}"
            raise DataError(f"{f}: line {line}: example {idx} {why}; the rows must come from --export")
        seen.add(idx)
        for t in tags:
            if (row.get(t) or "").strip().lower() not in ("", "0", "no", "false"):
                counts[t] += 1
    reviewed = len(seen)
    n, n_err = len(p), len(wrong)
    scale = n_err / reviewed if reviewed else 0.0  # reviewed errors stand for all errors
    table = [
        {
            "tag": t,
            "errors": c,
            "share": c / reviewed if reviewed else 0.0,
            "error_if_fixed": 100.0 * (n_err - c * scale) / n if n else None,
        }
        for t, c in counts.items()
    ]
    table.sort(key=lambda d: -int(d["errors"] or 0))
    return {"reviewed": reviewed, "errors": n_err, "error": 100.0 * n_err / n if n else None, "tags": table}
