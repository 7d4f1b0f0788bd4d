"""Report parts for tabular runs: misclassified and lowest-confidence records as attribute tables
(instead of image grids), and the attributes section (used, weighted, excluded, and their
permutation importance on dev).

Example:
    >>> attribute_facts({"excluded": ["sex"], "features": ["age"], "missing": "error",
    ...                  "attributes": [{"name": "age", "kind": "numeric", "weight": 0.5}]})[0]
    ('attributes used', 'age (weight 0.5)')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knobwise.diagnose import attribute_examples, permutation_importance
from knobwise.metrics import Predictions
from knobwise.report._examples import GRID_SIZE
from knobwise.report._figures import PALETTE, ReportFigure, label_axes, new_figure, styled, to_figure
from knobwise.report._sections import Section, Table, fmt

__all__ = ["example_tables", "attribute_facts", "attributes_section", "importance_figure"]

#: Attribute columns shown per example table (the most important ones when importance is known).
TABLE_ATTRIBUTES = 10


def _rows(
    data: Any, split: str, p: Predictions, chosen: np.ndarray, classes: list[str], cols: list[str]
) -> list[list[str]]:
    values = attribute_examples(data, split, [int(i) for i in p.index[chosen]])
    ids = data.splits[split].ids
    where = {int(v): i for i, v in enumerate(np.asarray(data.splits[split].index).tolist())}
    out = []
    for i in chosen:
        row = values.get(int(p.index[i]))
        if row is None:
            continue
        pos = where[int(p.index[i])]
        name = str(ids[pos]) if ids is not None else f"#{int(p.index[i])}"
        true, pred = classes[int(p.true[i])], classes[int(p.pred[i])]
        out.append([name, true, pred, f"{p.confidence[i]:.3f}", *[fmt(row[c]) for c in cols]])
    return out


def example_tables(
    data: Any, split: str, p: Predictions, classes: list[str], order: list[str] | None = None
) -> list[Table]:
    """The misclassified records (most confident first) and the lowest-confidence ones, as rows of
    attribute values in raw units; ``order`` puts the most important attributes first."""
    names = [a.name for a in data.tabular.attributes]
    cols = [c for c in (order or names) if c in names][:TABLE_ATTRIBUTES]
    head = ["id", "true", "predicted", "probability", *cols]
    wrong = np.flatnonzero(p.true != p.pred)
    mistakes = wrong[np.argsort(-p.confidence[wrong], kind="stable")][:GRID_SIZE]
    low = np.argsort(p.confidence, kind="stable")[:GRID_SIZE]
    tables = []
    if len(mistakes):
        caption = f"Misclassified {split} records, most confident first"
        tables.append(Table(head, _rows(data, split, p, mistakes, classes, cols), caption))
    if len(low):
        caption = f"Lowest-confidence {split} records (right or wrong)"
        tables.append(Table(head, _rows(data, split, p, low, classes, cols), caption))
    return tables


def attribute_facts(tab: dict[str, Any]) -> list[tuple[str, str]]:
    """Key/value facts of a ``model.json`` ``data.tabular`` description."""
    used = [a["name"] + (f" (weight {a['weight']:g})" if a["weight"] != 1 else "") for a in tab["attributes"]]
    cats = [a["name"] for a in tab["attributes"] if a["kind"] == "categorical"]
    return [
        ("attributes used", ", ".join(used)),
        ("model inputs", f"{len(tab['features'])} columns (one-hot categories included)"),
        ("categorical (one-hot, categories from train)", ", ".join(cats) or "none"),
        ("excluded (never reach the model)", ", ".join(tab["excluded"]) or "none"),
        ("missing values", "imputed with train statistics" if tab["missing"] == "impute" else "an error"),
    ]


@styled
def importance_figure(rows: list[dict[str, Any]], split: str) -> ReportFigure:
    """Permutation importance as horizontal bars (accuracy drop), the most important on top."""
    items = rows[::-1]
    fig, ax = new_figure(9, max(2.5, 0.32 * len(items) + 1.2))
    ax.barh(
        [r["attribute"][:30] for r in items],
        [r["accuracy_drop"] for r in items],
        xerr=[r["accuracy_drop_std"] for r in items],
        color=PALETTE[0],
    )
    label_axes(ax, f"accuracy drop on {split} when shuffled (points)", "attribute", "attribute importance")
    return to_figure(fig, "attribute_importance", f"Permutation importance on {split}")


def attributes_section(tab: dict[str, Any], data: Any, model: Any) -> tuple[Section, list[str] | None]:
    """The attributes section, and the attributes ordered by importance (None when not measured)."""
    s = Section("attributes", "Attributes")
    s.add_items(attribute_facts(tab))
    if data is None or model is None or "dev" not in data.splits or not len(data.splits["dev"]):
        s.note("no attribute importance: it needs the trained model and a dev split")
        return s, None
    imp = permutation_importance(model, data, "dev")
    rows = imp["attributes"]
    s.paragraphs.append(
        "Permutation importance: how much dev accuracy drops (and the loss rises) when one attribute's "
        f"values are shuffled across the dev records, mean of {imp['repeats']} shuffles. Excluded "
        "attributes never reach the model and have no importance."
    )
    s.figures.append(importance_figure(rows, "dev"))
    s.tables.append(
        Table(
            ["attribute", "accuracy drop (points)", "std", "loss rise"],
            [
                [
                    r["attribute"],
                    f"{r['accuracy_drop']:.2f}",
                    f"{r['accuracy_drop_std']:.2f}",
                    fmt(r["loss_rise"]),
                ]
                for r in rows
            ],
        )
    )
    return s, [r["attribute"] for r in rows]
