"""The diagnosis, error-analysis, label-issue and augmentation sections of a run report.

They show what other parts of knobwise compute (``knobwise.diagnose``, the augmentation
pipeline); the report calls them and lays out their results, and never computes a verdict
itself. If a part fails on this run, its section says so in one line and the rest of the report
stands.

Results are laid out generically (numbers as items, lists of records as tables, text as
paragraphs), so new keys appear without a change here.

Example:
    >>> s = Section("d", "Diagnosis")
    >>> result = {"verdict": "high variance", "variance": 11.0, "knobs": [{"knob": "data.augment"}]}
    >>> lay_out(s, result)
    >>> s.paragraphs, s.items, s.tables[0].columns
    (['Verdict: high variance'], [('variance', '11')], ['knob'])
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from typing import Any

from knobwise.diagnose import analyze_errors, diagnose_run, for_people
from knobwise.report._augment_preview import preview_png
from knobwise.report._examples import label_issue_grid
from knobwise.report._figures import ReportFigure
from knobwise.report._sections import Section, dict_table, fmt
from knobwise.run import BaseRun

__all__ = [
    "lay_out",
    "diagnosis_section",
    "error_analysis_section",
    "label_issues_section",
    "augmentation_section",
]

#: Keys shown as sentences first, in this order.
_HEADLINES = ("verdict", "focus")
#: Keys that repeat what the report's header already says.
_SKIP = ("run",)
_LABEL_ISSUE_FILES = ("label_issues.csv", "errors/label_issues.csv")
_MAX_ROWS = 25


def _as_dict(result: Any) -> Mapping[str, Any]:
    if isinstance(result, Mapping):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()  # type: ignore[no-any-return]
    if hasattr(result, "__dict__"):
        return vars(result)
    return {"result": result}


def lay_out(section: Section, result: Any) -> None:
    """Add a result (a dict or an object with ``to_dict()``) to ``section``: headline keys as
    sentences, scalars as items, lists of dicts as tables, lists of scalars as one item."""
    data = _as_dict(result)
    for key in _HEADLINES:
        if data.get(key) not in (None, "", []):
            section.paragraphs.append(f"{key.capitalize()}: {fmt(data[key])}")
    for key, value in data.items():
        if key in _HEADLINES:
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            section.tables.append(dict_table(value[:_MAX_ROWS], caption=key.replace("_", " ")))
        elif isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            rows = [{"": k, **v} for k, v in value.items()]
            section.tables.append(dict_table(rows[:_MAX_ROWS], caption=key.replace("_", " ")))
        elif key in _SKIP or value is None:
            continue
        elif isinstance(value, list) and not value:
            section.add_items([(key.replace("_", " "), "none")])
        elif isinstance(value, list) and all(isinstance(v, str) for v in value) and key == "notes":
            section.paragraphs.extend(value)
        elif isinstance(value, Mapping):
            shown = ", ".join(f"{k} {fmt(v)}" for k, v in value.items() if v is not None)
            section.add_items([(key.replace("_", " "), shown or "none")])
        else:
            section.add_items([(key.replace("_", " "), value)])


def _call_into(section: Section, what: str, fn: Callable[[], Any]) -> None:
    try:
        lay_out(section, fn())
    except Exception as exc:  # another component's failure must not take the report down
        section.note(
            f"{what} could not be computed for this run: {type(exc).__name__}: {exc}".splitlines()[0]
        )


def diagnosis_section(run: BaseRun) -> Section:
    """Bias / variance / mismatch decomposition, verdict, focus and knobs (``knobwise diagnose``)."""
    s = Section("diagnosis", "Diagnosis and knobs")
    _call_into(s, "diagnosis", lambda: for_people(diagnose_run(run)))
    return s


def error_analysis_section(run: BaseRun, split: str = "dev") -> Section:
    """Which classes and confusions carry the errors on ``split`` (what ``knobwise errors`` prints)."""
    s = Section("error-analysis", "Error analysis")
    s.paragraphs.append(f"On the {split} split.")
    _call_into(s, "error analysis", lambda: analyze_errors(run.predictions(split), run.classes))
    return s


def label_issues_section(run: BaseRun) -> Section:
    """The suspected mislabeled examples that ``knobwise errors RUN --label-issues`` saved."""
    s = Section("label-issues", "Suspected label issues")
    for name in _LABEL_ISSUE_FILES:
        path = run.root / name
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            flagged = sum(r.get("flagged") in ("True", "true") for r in rows)
            s.paragraphs.append(
                f"{len(rows)} suspects in {name} ({flagged} flagged); the top {min(len(rows), _MAX_ROWS)}:"
            )
            s.tables.append(dict_table(rows[:_MAX_ROWS]))
            try:
                grid = label_issue_grid(run.data, rows)
            except Exception as exc:  # the thumbnails need the run's data; the table stands alone
                s.note(f"no thumbnails: {type(exc).__name__}: {exc}".splitlines()[0])
            else:
                if grid is not None:
                    s.figures.append(grid)
            return s
    s.note("no suspected label issues saved for this run (run `knobwise errors RUN --label-issues`)")
    return s


def augmentation_section(run: BaseRun, config: Mapping[str, Any]) -> Section:
    """Original images beside augmented ones, as ``knobwise augment-preview`` draws them."""
    s = Section("augmentation", "Augmentation preview")
    augment = (config.get("data") or {}).get("augment")
    if not augment or not any(v for v in (augment.values() if isinstance(augment, Mapping) else [augment])):
        s.paragraphs.append(
            "No augmentation: the training images are used as they are (data.augment is not set)."
        )
        return s
    try:
        png, _, _ = preview_png(run.config, 16)
    except Exception as exc:  # the data may be gone: the rest of the report stands
        s.note(f"augmentation preview failed: {type(exc).__name__}: {exc}".splitlines()[0])
        return s
    s.figures.append(ReportFigure("augment_preview", "Original images beside their augmented versions", png))
    return s
