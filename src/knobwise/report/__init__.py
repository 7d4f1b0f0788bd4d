"""The HTML report: one self-contained page per run, per comparison and per study.

Example (with finished runs)::

    from knobwise.report import report_kind, write_report
    report_kind("runs/20250101-digits")                        # -> "run"
    write_report(["runs/a", "runs/b"], out="compare.html")     # -> Path("compare.html")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from knobwise.errors import RunError
from knobwise.report._augment_preview import preview_png
from knobwise.report._compare import write_comparison_report
from knobwise.report._explain_plots import explanation_grid, feature_maps_grid, filters_grid
from knobwise.report._figures import PALETTE, ReportFigure
from knobwise.report._notebook import run_html
from knobwise.report._run import write_run_report
from knobwise.report._study import is_study, write_study_report
from knobwise.run import is_run, open_run

__all__ = [
    "PALETTE",
    "ReportFigure",
    "explanation_grid",
    "feature_maps_grid",
    "filters_grid",
    "preview_png",
    "report_kind",
    "run_html",
    "write_report",
    "write_run_report",
    "write_comparison_report",
    "write_study_report",
]


def report_kind(path: str | Path) -> str:
    """``"run"`` or ``"study"``; a :class:`RunError` (exit code 2) for anything else.

    >>> report_kind("/")
    Traceback (most recent call last):
    ...
    knobwise.errors.RunError: /: not a knobwise run or study (no config.yaml with model.json, no study.json)
    """
    p = Path(path)
    if not p.exists():
        raise RunError(f"{p}: no such run or study directory")
    if is_run(p):
        return "run"
    if is_study(p):
        return "study"
    if (p / "config.yaml").is_file() and (p / "log.txt").is_file():
        open_run(p)  # a run that never saved a model: says why (e.g. stopped on a NaN loss)
    raise RunError(f"{p}: not a knobwise run or study (no config.yaml with model.json, no study.json)")


def write_report(paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """One path: the report of that run or study (default ``PATH/report.html``); several runs:
    their comparison (default ``comparison.html`` in the current folder)."""
    if not paths:
        raise RunError("report: give a run, a study, or two or more runs")
    kinds = [report_kind(p) for p in paths]
    if len(paths) == 1:
        if kinds[0] == "study":
            return write_study_report(paths[0], out)
        return write_run_report(paths[0], out)
    if "study" in kinds:
        study = paths[kinds.index("study")]
        raise RunError(f"{study}: a study cannot be compared with runs; report it on its own")
    return write_comparison_report(paths, out if out is not None else "comparison.html")
