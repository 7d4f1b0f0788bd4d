"""The comparison report: several runs side by side.

Curves overlaid, one table row per run (dev accuracy, harmonic mean of per-class recall, macro
F1, latency, parameters, test accuracy) and the ``select`` verdict for the optimizing metric and
constraints that the first run's config names (``knobwise.metrics.select_candidates``; dev is the
default split, as in ``knobwise select``).

Example (two finished runs)::

    write_comparison_report(["runs/a", "runs/b"], "compare.html")  # -> Path("compare.html")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knobwise.io import atomic_write_text
from knobwise.report import _plots
from knobwise.report._render import render_page
from knobwise.report._sections import Link, Mark, RunArtifacts, Section, Table, fmt
from knobwise.run import open_run
from knobwise.select import run_row, select_candidates

__all__ = ["write_comparison_report", "comparison_sections", "relative_link"]


def relative_link(target: Path, page: Path) -> str:
    """``target`` relative to the folder of the HTML file ``page`` (links survive moving both)."""
    return Path(os.path.relpath(target.resolve(), page.resolve().parent)).as_posix()


def _labels(arts: Sequence[RunArtifacts]) -> list[str]:
    """Run names, made unique (two runs may share a config name)."""
    seen: dict[str, int] = {}
    out = []
    for a in arts:
        n = a.name
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def _get(m: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(m, dict):
            return None
        m = m.get(p)
    return m


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config as ``{"train.optimizer.lr": 0.01, ...}``."""
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _table(arts: Sequence[RunArtifacts], labels: list[str], page: Path) -> Table:
    cols = [
        "run",
        "dev accuracy",
        "dev hmean recall",
        "dev macro F1",
        "latency ms",
        "params",
        "test accuracy",
    ]
    rows: list[list[Any]] = []
    for a, label in zip(arts, labels, strict=True):
        m = a.metrics
        report = a.root / "report.html"
        latency = _get(m, "latency", "median_ms")
        rows.append(
            [
                Link(label, relative_link(report, page)) if report.is_file() else label,
                fmt(_get(m, "dev", "accuracy")),
                fmt(_get(m, "dev", "hmean", "recall")) if _get(m, "dev", "hmean") else "not recorded",
                fmt(_get(m, "dev", "macro", "f1")) if _get(m, "dev", "macro") else "not recorded",
                fmt(latency) if latency is not None else "not measured",
                f"{_get(m, 'model', 'params'):,}"
                if isinstance(_get(m, "model", "params"), int)
                else "not recorded",
                fmt(_get(m, "test", "accuracy")),
            ]
        )
    return Table(cols, rows)


def _verdict(arts: Sequence[RunArtifacts], labels: list[str]) -> Section:
    s = Section("verdict", "Selection verdict")
    ev = arts[0].config.get("evaluate") or {}
    metric, constraints = ev.get("metric"), list(ev.get("constraints") or [])
    if not metric:
        s.note("no verdict: the config names no optimizing metric (evaluate.metric)")
        return s
    if any((a.config.get("evaluate") or {}) != ev for a in arts[1:]):
        s.note("the runs' evaluate sections differ; the verdict uses the first run's")
    rows = []
    for a, label in zip(arts, labels, strict=True):
        try:
            row = run_row(a.root)
        except Exception as exc:  # a run without metrics.json is still compared on what it has
            s.note(f"{label}: {exc}")
            continue
        # Unprefixed metric paths mean the dev split, as in evaluate.metric and `knobwise select`.
        row.update({k[len("dev.") :]: v for k, v in row.items() if k.startswith("dev.")})
        row["name"] = label
        rows.append(row)
    try:
        result = select_candidates(rows, metric, constraints)
    except Exception as exc:  # e.g. a constraint on latency that no run measured
        s.note(f"no verdict for {metric!r} subject to {constraints or 'no constraints'}: {exc}")
        return s
    s.add_items(
        [("optimize", f"{metric} ({result.direction})"), ("subject to", constraints or "no constraints")]
    )
    winner = result.winner
    s.paragraphs.append(f"Winner: {winner}" if winner else "No run satisfies every constraint.")
    rows_out: list[list[Any]] = [
        [
            str(i + 1),
            c.name,
            fmt(c.value),
            Mark("yes" if c.satisfied else "no", c.satisfied),
            "; ".join(c.violations) or "none",
        ]
        for i, c in enumerate(result.ranking)
    ]
    s.tables.append(Table(["rank", "run", metric, "constraints met", "violations"], rows_out))
    return s


def comparison_sections(arts: Sequence[RunArtifacts], page: Path) -> list[Section]:
    """The sections of a comparison of ``arts`` written to ``page``."""
    labels = _labels(arts)
    table = Section("runs", "Runs side by side")
    table.tables.append(_table(arts, labels, page))
    for a, label in zip(arts, labels, strict=True):
        if a.missing:
            table.note(f"{label}: missing " + ", ".join(f"{k} ({v})" for k, v in a.missing.items()))
    curves = Section("curves", "Learning curves, overlaid")
    histories = {label: a.history for a, label in zip(arts, labels, strict=True) if a.history}
    if histories:
        curves.figures.append(_plots.overlaid_curves(histories))
    else:
        curves.note("no learning curves: none of the runs has a history.csv")
    differ = Section("configs", "Config differences")
    flat = [_flatten(a.config) for a in arts]
    keys = sorted({k for f in flat for k in f if len({fmt(g.get(k, "not set")) for g in flat}) > 1})
    if keys:
        rows: list[list[Any]] = [[k, *[fmt(f.get(k, "not set")) for f in flat]] for k in keys]
        differ.tables.append(Table(["config key", *labels], rows))
    else:
        differ.paragraphs.append("The runs' resolved configs are identical.")
    return [table, _verdict(arts, labels), curves, differ]


def write_comparison_report(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write the comparison of ``run_dirs`` (at least two runs) to ``out``."""
    arts = [RunArtifacts.load(open_run(d).root) for d in run_dirs]
    page = Path(out)
    sections = comparison_sections(arts, page)
    header = [
        ("runs", str(len(arts))),
        ("datasets", ", ".join(sorted({str(_get(a.config, "data", "dataset")) for a in arts}))),
    ]
    title = " vs ".join(_labels(arts)) if len(arts) <= 3 else f"{len(arts)} runs"
    atomic_write_text(page, render_page(title, "comparison", sections, header))
    return page
