"""The HTML report: one self-contained page per run, per comparison and per study.

Example (with finished runs)::

    from knobwise.report import write_comparison_report, write_run_report
    write_run_report("runs/20250101-digits")                            # -> its report.html
    write_comparison_report(["runs/a", "runs/b"], out="compare.html")   # -> Path("compare.html")

The study report (``report._study``) needs optuna; :func:`knobwise.api.write_report`, which
chooses the kind of report for a path, imports it only for a study, so writing a run's report
never loads optuna.
"""

from __future__ import annotations

from knobwise.report._augment_preview import preview_png
from knobwise.report._compare import write_comparison_report
from knobwise.report._explain_plots import explanation_grid, feature_maps_grid, filters_grid
from knobwise.report._figures import PALETTE, ReportFigure
from knobwise.report._notebook import run_html
from knobwise.report._run import write_run_report

__all__ = [
    "PALETTE",
    "ReportFigure",
    "explanation_grid",
    "feature_maps_grid",
    "filters_grid",
    "preview_png",
    "run_html",
    "write_run_report",
    "write_comparison_report",
]
