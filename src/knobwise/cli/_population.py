"""The ``--population N`` output of ``knobwise train``: printing only (training is
:func:`knobwise.train` with ``population``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from knobwise.api import Run
from knobwise.cli._common import print_json


def print_population(result: Run, as_json: bool) -> None:
    section = result.metrics["ensemble"]
    facts = section.get("population") or {}
    if as_json:
        print_json({"run": str(result.root), "metrics": result.metrics, "batched": facts.get("batched")})
        return
    console = Console(highlight=False)
    table = Table(
        title=f"population {result.root} ({len(section['members'])} members, {section['vote']} vote)"
    )
    for col in ("split", "examples", "plurality", "mean", "members (min-max)"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, row in section["splits"].items():
        accs = [a for a in row["members"] if a is not None]
        span = f"{100 * min(accs):.2f}-{100 * max(accs):.2f}%" if accs else "-"
        table.add_row(split, str(result.metrics[split]["n"]), _pct(row["plurality"]), _pct(row["mean"]), span)
    console.print(table)
    how = "trained together" if facts.get("batched") else "trained one after another (see log.txt)"
    console.print(
        f"wrote {result.root}/ (members/0..{len(section['members']) - 1}/, {how}; "
        "the ensemble's metrics.json, predictions.npz, model.json, report.html)"
    )


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"
