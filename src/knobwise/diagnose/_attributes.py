"""Which attributes drive a tabular model's decisions: permutation importance, and the
misclassified records shown as attribute rows.

Permutation importance (Breiman 2001): shuffle one attribute's values across the records of a
split (dev by default), keeping everything else, and measure how much accuracy drops and the loss
rises, averaged over ``repeats`` shuffles. A categorical attribute's one-hot columns are shuffled
together, as one attribute (scikit-learn's ``permutation_importance`` permutes single columns, which
would break a one-hot group apart). An attribute listed in ``data.attributes.exclude`` never reaches
the model, so it has no input column to shuffle: it is reported as excluded, with no importance.

Example:
    >>> import torch
    >>> from knobwise.config import DataConfig
    >>> from knobwise.data import prepare_data
    >>> data = prepare_data(DataConfig(dataset="wine", attributes={"exclude": ["alcohol"]}), seed=0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> imp = permutation_importance(model, data, "dev", repeats=2)
    >>> len(imp["attributes"]), imp["excluded"]
    (12, ['alcohol'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.data import PreparedData
from knobwise.errors import RunError
from knobwise.run import BaseRun, as_run

__all__ = ["permutation_importance", "attribute_examples", "run_attribute_analysis", "attribute_lines"]


@torch.no_grad()
def _score(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x).float()
    loss = torch.nn.functional.cross_entropy(logits, y)
    return float((logits.argmax(1) == y).float().mean()), float(loss)


def permutation_importance(
    model: torch.nn.Module, data: PreparedData, split: str = "dev", repeats: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Per attribute: the drop in accuracy (percentage points) and the rise in loss when its values
    are shuffled across ``split``, mean and standard deviation over ``repeats`` shuffles, most
    important first; and the excluded attributes (which the model never sees)."""
    tab = data.tabular
    if tab is None:
        raise RunError(f"permutation importance needs tabular data; {data.dataset} is not tabular")
    s = data.splits.get(split)
    if s is None or len(s) == 0:
        raise RunError(f"permutation importance: no {split} split (splits: {', '.join(data.splits)})")
    was_training = model.training
    model.eval()
    try:
        base_acc, base_loss = _score(model, s.x, s.y)
        gen = torch.Generator(device=s.x.device).manual_seed(seed)
        rows: list[dict[str, Any]] = []
        for name, cols in tab.groups():
            drops, rises = [], []
            for _ in range(repeats):
                perm = torch.randperm(len(s), generator=gen, device=s.x.device)
                x = s.x.clone()
                x[:, cols] = s.x[perm][:, cols]
                acc, loss = _score(model, x, s.y)
                drops.append(100.0 * (base_acc - acc))
                rises.append(loss - base_loss)
            rows.append(
                {
                    "attribute": name,
                    "accuracy_drop": float(np.mean(drops)),
                    "accuracy_drop_std": float(np.std(drops)),
                    "loss_rise": float(np.mean(rises)),
                }
            )
    finally:
        model.train(was_training)
    rows.sort(key=lambda r: (-r["accuracy_drop"], -r["loss_rise"]))
    return {
        "split": split,
        "repeats": repeats,
        "accuracy": base_acc,
        "loss": base_loss,
        "attributes": rows,
        "excluded": list(tab.excluded),
    }


def attribute_examples(data: PreparedData, split: str, index: list[int]) -> dict[int, dict[str, Any]]:
    """The attribute values (raw units, categories by name) of the records of ``split`` whose
    source positions are ``index``."""
    tab, s = data.tabular, data.splits[split]
    if tab is None:
        return {}
    where = {int(v): i for i, v in enumerate(np.asarray(s.index).tolist())}
    pos = [where[i] for i in index if i in where]
    rows = tab.decode(s.x[torch.as_tensor(pos, dtype=torch.long)].cpu().numpy(), data.normalizer)
    return {int(s.index[p]): row for p, row in zip(pos, rows, strict=True)}


def run_attribute_analysis(
    run: BaseRun | str | Path, split: str, analysis: dict[str, Any], repeats: int = 5
) -> dict[str, Any] | None:
    """For a tabular run: permutation importance on ``split`` and the attribute rows of the
    examples listed in an :func:`~knobwise.diagnose.analyze_errors` result; None otherwise."""
    run = as_run(run)
    meta = run.meta if run.paths.model_json.is_file() else {}
    if not (meta.get("data") or {}).get("tabular"):
        return None
    data = run.data
    out = permutation_importance(run.model, data, split, repeats=repeats, seed=run.config.seed)
    keys = ("lowest_confidence_incorrect", "most_confident_incorrect", "lowest_confidence_correct")
    listed = sorted({int(r["index"]) for k in keys for r in analysis.get(k, [])})
    rows = attribute_examples(data, split, listed)
    out["examples"] = [
        {
            "index": r["index"],
            "id": r["id"],
            "true": r["true"],
            "predicted": r["predicted"],
            **rows[r["index"]],
        }
        for r in analysis.get("most_confident_incorrect", [])
        if r["index"] in rows
    ]
    return out


def attribute_lines(attrs: dict[str, Any], width: int = 8) -> list[str]:
    """Printable lines: the importance ranking, the excluded attributes, the misclassified
    records as attribute rows (the ``width`` most important attributes)."""
    lines = [
        f"attribute importance on {attrs['split']} (accuracy drop in points when shuffled, "
        f"mean of {attrs['repeats']}; loss rise):"
    ]
    for r in attrs["attributes"]:
        lines.append(
            f"  {r['attribute']:<28} {r['accuracy_drop']:+7.2f} ± {r['accuracy_drop_std']:.2f}  "
            f"loss {r['loss_rise']:+.4f}"
        )
    lines.append("excluded (never reach the model): " + (", ".join(attrs["excluded"]) or "none"))
    if attrs["examples"]:
        cols = [r["attribute"] for r in attrs["attributes"][:width]]
        lines.append("misclassified records (most confident first; top attributes):")
        lines.append("  " + " | ".join(["id", "true", "predicted", *cols]))
        for e in attrs["examples"]:
            name = e["id"] if e["id"] is not None else f"#{e['index']}"
            lines.append(
                "  " + " | ".join(str(v) for v in [name, e["true"], e["predicted"], *[e[c] for c in cols]])
            )
    return lines
