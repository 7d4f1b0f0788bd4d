"""Permutation importance per attribute and records as attribute rows (tabular runs)."""

from __future__ import annotations

import pytest
import torch

from knobwise.config import DataConfig, load_config
from knobwise.data import prepare_data
from knobwise.diagnose import attribute_examples, find_label_issues, permutation_importance
from knobwise.errors import RunError


def _wine() -> object:
    return prepare_data(DataConfig(dataset="wine", attributes={"exclude": ["alcohol"]}), seed=0)


def test_importance_ranks_the_attribute_the_model_reads() -> None:
    data = _wine()
    features = data.tabular.features  # type: ignore[attr-defined]
    col = features.index("proline")
    # a fixed model that reads proline only: logits (z, 0, -z)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(len(features), 3, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0, col], model[1].weight[2, col] = 5.0, -5.0
    imp = permutation_importance(model, data, "dev", repeats=3)  # type: ignore[arg-type]
    by = {r["attribute"]: r for r in imp["attributes"]}
    assert imp["attributes"][0]["attribute"] == "proline" and by["proline"]["loss_rise"] > 0
    assert all(r["accuracy_drop"] == 0 and r["loss_rise"] == 0 for n, r in by.items() if n != "proline")
    assert "alcohol" not in by and imp["excluded"] == ["alcohol"]


def test_records_as_attribute_rows_in_raw_units() -> None:
    data = _wine()
    dev = data.splits["dev"]  # type: ignore[attr-defined]
    rows = attribute_examples(data, "dev", [int(dev.index[0])])  # type: ignore[arg-type]
    from sklearn.datasets import load_wine

    raw = load_wine()
    j = list(raw.feature_names).index("proline")
    assert rows[int(dev.index[0])]["proline"] == pytest.approx(raw.data[int(dev.index[0]), j], rel=1e-5)


def test_importance_needs_tabular_data() -> None:
    data = prepare_data(DataConfig(dataset="digits", limit=100), seed=0)
    with pytest.raises(RunError, match=r"permutation importance needs tabular data; digits is not tabular"):
        permutation_importance(torch.nn.Flatten(), data)


def test_label_issues_on_records() -> None:
    cfg = load_config(None, ["data.dataset=wine", "model={name: mlp, hidden: [8]}", "train.threads=1"])
    data = prepare_data(cfg.data, seed=0)
    res = find_label_issues(cfg, data, folds=2, epochs=1, seed=0)
    assert res.rows and all(str(r["id"]).startswith("wine[") for r in res.rows)
    assert {r["label"] for r in res.rows} <= set(data.classes)
