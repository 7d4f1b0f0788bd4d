"""A run as HTML for Jupyter (``Run._repr_html_``): metrics per split, the learning curves and
the dev confusion matrix, on one small block. Every user string is escaped.

It reuses the figures already saved by the run's report when they exist (``figures/*.png``), so
displaying a run costs no plotting; otherwise it draws them. The confusion matrix is the report's
coloured table.

Example (a finished run)::

    from knobwise.run import BaseRun
    html = run_html(BaseRun("runs/20250101-digits"))
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

import numpy as np

from knobwise.objective import SPLITS
from knobwise.report import _curves, _plots
from knobwise.report._heatmap import MAX_CLASSES, confusion_heatmap
from knobwise.report._render import environment
from knobwise.run import BaseRun

__all__ = ["run_html"]


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" style="max-width:100%" src="data:image/png;base64,{data}"/>'


def _figure(run: BaseRun, name: str, draw: Any) -> str:
    saved = run.root / "figures" / f"{name}.png"
    try:
        png = saved.read_bytes() if saved.is_file() else draw().png
    except Exception as exc:  # a figure that cannot be drawn must not hide the rest
        return f"<p><em>{escape(name)}: {escape(type(exc).__name__)}: {escape(str(exc))}</em></p>"
    return _img(png, name.replace("_", " "))


def _cell(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def run_html(run: BaseRun) -> str:
    """An HTML summary of ``run``."""
    try:
        metrics = run.metrics
    except Exception as exc:
        return f"<p><b>knobwise run</b> {escape(str(run.root))}: {escape(str(exc))}</p>"
    rows = []
    for split in SPLITS:
        m = metrics.get(split)
        if not isinstance(m, dict):
            continue
        macro = (m.get("macro") or {}).get("f1")
        cells = [split, str(m.get("n")), _cell(m.get("loss"), ".4f"), _cell(m.get("accuracy"), ".4f"),
                 _cell(m.get("error"), ".2f"), _cell(macro, ".4f")]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("split", "examples", "loss", "accuracy", "error %", "macro F1"))
    parts = [
        f"<div><p><b>knobwise run</b> <code>{escape(str(run.root))}</code> ({escape(run.name)})</p>",
        f"<table><tr>{head}</tr>{''.join(rows)}</table>",
    ]
    objective = metrics.get("objective") or {}
    if objective.get("metric"):
        parts.append(
            f"<p>optimizing {escape(str(objective['metric']))} = {escape(str(objective.get('value')))}</p>"
        )
    if run.history:
        parts.append(_figure(run, "learning_curves", lambda: _curves.learning_curves(run.history)))
    dev = metrics.get("dev") if isinstance(metrics.get("dev"), dict) else metrics.get("test")
    if isinstance(dev, dict) and dev.get("confusion_matrix"):
        cm = np.asarray(dev["confusion_matrix"])
        split = "dev" if dev is metrics.get("dev") else "test"
        names = run.classes or [str(i) for i in range(len(cm))]
        if len(cm) <= MAX_CLASSES:  # the report's coloured table (escaped by its template)
            table = confusion_heatmap(cm, names, split, normalized=False)
            parts.append(environment().get_template("heatmap.html").render(h=table))
        else:
            parts.append(
                _figure(run, f"confusion_{split}", lambda: _plots.confusion_heatmaps(cm, names, split))
            )
    if (run.root / "figures" / "explain_dev.png").is_file():  # the report's "what the network looks at"
        parts.append(
            _img((run.root / "figures" / "explain_dev.png").read_bytes(), "what the network looks at")
        )
    parts.append("</div>")
    return "\n".join(parts)
