"""What a report is made of, and collecting what a run directory has.

A report is a list of :class:`Section` s. A section holds plain data (text, key/value items,
tables, figures, preformatted text) and never HTML: the template renders it with jinja2
autoescaping, so every user string (class names, run names, config values) reaches the page as
text. A section whose data is missing still appears, with a note saying what is missing and how
to get it, so a reader sees the gap instead of wondering.

:class:`RunArtifacts` reads the files of one run directory, each optional; what could not be read
is recorded in ``missing`` (file name → reason).

Example:
    >>> s = Section("metrics", "Metrics")
    >>> s.add_items([("accuracy", 0.95)])
    >>> s.items
    [('accuracy', '0.9500')]
    >>> s.note("no test split")
    >>> s.notes
    ['no test split']
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knobwise.io import read_csv
from knobwise.objective import SPLITS
from knobwise.report._figures import ReportFigure
from knobwise.report._heatmap import Heatmap

__all__ = ["Link", "Mark", "Table", "Section", "RunArtifacts", "fmt", "dict_table"]


@dataclass(frozen=True)
class Link:
    """A table cell linking to a relative path (a trial's report)."""

    text: str
    href: str


@dataclass(frozen=True)
class Mark:
    """A table cell shown as met (``ok``) or not met."""

    text: str
    ok: bool


Cell = str | Link | Mark


@dataclass
class Table:
    """Column names and rows of cells; ``caption`` is shown above it."""

    columns: list[str]
    rows: Sequence[Sequence[Cell]]
    caption: str | None = None


@dataclass
class Section:
    """One part of a report; ``id`` is its HTML anchor."""

    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    heatmaps: list[Heatmap] = field(default_factory=list)
    pre: str | None = None

    def note(self, text: str) -> None:
        """Record what is missing (shown highlighted)."""
        self.notes.append(text)

    def add_items(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """Key/value rows; values are formatted with :func:`fmt`; ``None`` values are left out."""
        self.items.extend((k, fmt(v)) for k, v in pairs if v is not None)

    @property
    def empty(self) -> bool:
        return not (self.paragraphs or self.items or self.tables or self.figures or self.heatmaps or self.pre)


def fmt(value: Any, digits: int = 4) -> str:
    """A value as short text: ``None`` as "undefined", booleans as yes/no, fractions in [0, 1]
    with ``digits`` decimals (so ``1`` and ``0.9852`` line up as ``1.0000`` and ``0.9852``), other
    floats to ``digits`` significant digits; dicts as readable text, never JSON.

    >>> fmt(0.123456), fmt(None), fmt(3), fmt(float("nan")), fmt([1, 2]), fmt(1.0), fmt(11.0)
    ('0.1235', 'undefined', '3', 'undefined', '1, 2', '1.0000', '11')
    >>> fmt({"knob": "early stopping", "setting": "train.early_stopping.patience: 5"})
    'early stopping: train.early_stopping.patience: 5'
    >>> fmt({"train.optimizer.lr": {"type": "float", "low": 0.0001, "high": 0.3, "log": True}})
    'train.optimizer.lr: 0.0001 … 0.3000 (log)'
    """
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "undefined"
        if 1e-3 <= abs(value) <= 1.0 or value == 0.0:
            return f"{value:.{digits}f}"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    if isinstance(value, dict):
        return _dict_text(value, digits)
    return str(value)


_RANGE_KEYS = frozenset({"type", "low", "high", "log", "step", "choices", "when"})


def _dict_text(value: Mapping[str, Any], digits: int) -> str:
    """A dict as one readable line: a knob with its setting, a search-space entry as its range,
    anything else as ``key: value; ...``."""
    if "knob" in value:
        rest = [fmt(v, digits) for k, v in value.items() if k != "knob" and v not in (None, "", [])]
        return f"{value['knob']}: {'; '.join(rest)}" if rest else str(value["knob"])
    if value and set(value) <= _RANGE_KEYS and "type" in value:
        if "choices" in value:
            text = " | ".join(str(c) for c in value["choices"])
        else:
            text = f"{fmt(value.get('low'), digits)} … {fmt(value.get('high'), digits)}"
            text += " (log)" if value.get("log") else ""
            text += f" step {fmt(value['step'], digits)}" if value.get("step") else ""
        if value.get("when"):
            text += " when " + ", ".join(f"{k} = {fmt(v, digits)}" for k, v in value["when"].items())
        return text
    parts = []
    for k, v in value.items():
        shown = _dict_text(v, digits) if isinstance(v, Mapping) else fmt(v, digits)
        parts.append(f"{k}: {shown}")
    return "; ".join(parts)


def header_text(name: str) -> str:
    """A column header for people: ``self_confidence`` → ``self confidence``.

    >>> header_text("cluster_majority"), header_text("")
    ('cluster majority', '')
    """
    return name.replace("_", " ")


def _cell(value: Any) -> str:
    """A cell of a table read from CSV or JSON: ``True``/``False`` as yes/no, numbers formatted."""
    if isinstance(value, str):
        if value in ("True", "False", "true", "false"):
            return "yes" if value.lower() == "true" else "no"
        try:
            number = float(value)
        except ValueError:
            return value
        return value if number.is_integer() and "." not in value else fmt(number)
    return fmt(value)


def dict_table(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> Table:
    """A table from dicts; the columns are the union of keys in order of appearance, less those
    empty in every row, with readable headers and cells."""
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    keep = [c for c in cols if any(r.get(c) not in (None, "") for r in rows)]
    cells = [[_cell(r[c]) if r.get(c) not in (None, "") else "" for c in keep] for r in rows]
    return Table([header_text(c) for c in keep], cells, caption)


@dataclass
class RunArtifacts:
    """The files of a run directory that could be read; ``missing`` says why the others could not."""

    root: Path
    config_text: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_json: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.root.name)

    @property
    def classes(self) -> list[str]:
        """Class names from model.json, else from metrics.json, else predictions.npz."""
        if self.model_json.get("classes"):
            return [str(c) for c in self.model_json["classes"]]
        for split in ("dev", "test", "train"):
            m = self.metrics.get(split)
            if isinstance(m, dict) and m.get("classes"):
                return [str(c) for c in m["classes"]]
        if "classes" in self.predictions:
            return [str(c) for c in self.predictions["classes"].tolist()]
        return []

    def splits(self) -> list[str]:
        """Evaluated splits in the usual order (metrics.json keys that are splits)."""
        order = SPLITS
        found = [k for k, v in self.metrics.items() if isinstance(v, dict) and "accuracy" in v]
        return sorted(found, key=lambda s: (order.index(s) if s in order else len(order), s))

    @classmethod
    def load(cls, root: str | Path) -> RunArtifacts:
        """Read every artifact that exists; never raises for a missing or broken file."""
        art = cls(Path(root))
        p = art.root
        try:
            art.config_text = (p / "config.yaml").read_text(encoding="utf-8")
            loaded = yaml.safe_load(art.config_text)
            art.config = loaded if isinstance(loaded, dict) else {}
        except (OSError, yaml.YAMLError) as exc:
            art.missing["config.yaml"] = _why(exc)
        try:
            art.history = read_csv(p / "history.csv")
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            art.missing["history.csv"] = _why(exc)
        for fname, attr in (("metrics.json", "metrics"), ("model.json", "model_json")):
            try:
                value = json.loads((p / fname).read_text(encoding="utf-8"))
                setattr(art, attr, value if isinstance(value, dict) else {})
            except (OSError, json.JSONDecodeError) as exc:
                art.missing[fname] = _why(exc)
        try:
            with np.load(p / "predictions.npz", allow_pickle=False) as npz:  # nothing is unpickled
                art.predictions = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            art.missing["predictions.npz"] = _why(exc)
        return art


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not written"
    return f"unreadable ({type(exc).__name__}: {exc})".splitlines()[0]
