"""Tabular data: CSV/parquet sources, the attribute encoder fitted on train, the missing-value
policy, attribute weights and exclusion, and inputs for new records (``tabular_inputs``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig, load_config
from knobwise.data import TabularEncoder, prepare_data, read_table, tabular_inputs
from knobwise.errors import ConfigError, DataError

HEADER = ["id", "age", "income", "smoker", "region", "sex", "diagnosis"]


def _write(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _patients(tmp_path: Path, n: int = 120, missing: bool = False) -> Path:
    """A synthetic patient table whose class depends on age and smoking."""
    rng = np.random.default_rng(0)
    rows: list[list[object]] = []
    for i in range(n):
        age = int(rng.integers(20, 80))
        smoker = str(rng.choice(["yes", "no"]))
        sick = age > 50 or smoker == "yes"
        income = "" if missing and i % 10 == 3 else f"{rng.normal(50, 10):.1f}"
        region = str(rng.choice(["north", "south", "east"]))
        rows.append(
            [f"p{i}", age, income, smoker, region, str(rng.choice(["f", "m"])), "ill" if sick else "well"]
        )
    return _write(tmp_path / "patients.csv", rows)


def _cfg(path: Path, **kw: object) -> DataConfig:
    attrs = {"exclude": ["id", "sex"], "categorical": ["smoker", "region"]}
    return DataConfig.model_validate(
        {"dataset": "csv", "root": str(path), "target": "diagnosis", "attributes": attrs, **kw}
    )


def test_csv_attributes_categories_and_normalization(tmp_path: Path) -> None:
    data = prepare_data(_cfg(_patients(tmp_path)), seed=0)
    assert data.classes == ["ill", "well"]
    tab = data.tabular
    assert tab is not None and tab.excluded == ["id", "sex"]
    assert tab.features == [
        "age",
        "income",
        "smoker=no",
        "smoker=yes",
        "region=east",
        "region=north",
        "region=south",
    ]
    assert data.input_shape == (7, 1, 1)
    x = data.splits["train"].x[:, :, 0, 0]
    # numeric attributes standardized with train statistics; one-hot columns stay 0/1
    assert torch.allclose(x[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert set(torch.unique(x[:, 2:]).tolist()) == {0.0, 1.0}
    meta = data.to_dict()
    assert meta["tabular"]["excluded"] == ["id", "sex"] and meta["tabular"]["features"] == tab.features
    assert any("excluded (never reach the model): id, sex" in line for line in data.describe())


def test_categories_and_imputation_are_fitted_on_train_rows_only() -> None:
    cols = {
        "color": np.array(["red", "red", "blue", "green"], dtype=object),
        "size": np.array(["1", "3", "", "100"], dtype=object),
    }
    cfg = DataConfig(dataset="csv", attributes={"categorical": ["color"]}, missing="impute")
    enc = TabularEncoder.fit(cols, np.array([0, 1, 2]), cfg, target="y", source="t.csv")
    assert enc.features == ["color=blue", "color=red", "size"]  # 'green' (row 3, not train) is unknown
    x = enc.encode(cols)
    assert x[2, 2] == pytest.approx(2.0)  # the train mean of size (1 and 3), not including row 3's 100
    assert x[3].tolist() == [0.0, 0.0, 100.0]  # an unseen category encodes as all zeros


def test_weights_scale_the_normalized_attribute(tmp_path: Path) -> None:
    path = _patients(tmp_path)
    plain = prepare_data(_cfg(path), seed=0).splits["train"].x
    attrs = {
        "exclude": ["id", "sex"],
        "categorical": ["smoker", "region"],
        "weights": {"age": 0.5, "smoker": 2},
    }
    weighted = prepare_data(_cfg(path, attributes=attrs), seed=0).splits["train"].x
    assert torch.allclose(weighted[:, 0], 0.5 * plain[:, 0], atol=1e-6)
    assert torch.allclose(weighted[:, 2:4], 2 * plain[:, 2:4])
    assert torch.equal(weighted[:, 1], plain[:, 1])


def test_missing_values_error_by_default_or_imputed(tmp_path: Path) -> None:
    path = _patients(tmp_path, missing=True)
    with pytest.raises(
        DataError,
        match=r"data\.missing is 'error' and column 'income' has 12 missing value\(s\) "
        r"\(first: patients\.csv:5\); set data\.missing: impute",
    ):
        prepare_data(_cfg(path), seed=0)
    data = prepare_data(_cfg(path, missing="impute"), seed=0)
    assert torch.isfinite(data.splits["train"].x).all()


def test_excluded_column_may_hold_missing_values(tmp_path: Path) -> None:
    rows = [
        [f"p{i}", 30 + i, 1.0, "no", "north", "" if i == 0 else "f", "ill" if i % 2 else "well"]
        for i in range(40)
    ]
    data = prepare_data(_cfg(_write(tmp_path / "t.csv", rows)), seed=0)
    assert data.tabular is not None and "sex" not in data.tabular.columns


def test_tabular_inputs_match_the_training_encoding(tmp_path: Path) -> None:
    path = _patients(tmp_path)
    data = prepare_data(_cfg(path), seed=0)
    x = tabular_inputs(path, data.to_dict())  # the same file: target and excluded columns ignored
    dev = data.splits["dev"]
    assert torch.allclose(x[torch.as_tensor(dev.index)], dev.x)
    cols, _ = read_table(path)
    rows = [{k: str(v[i]) for k, v in cols.items() if k not in ("id", "sex", "diagnosis")} for i in range(3)]
    assert torch.allclose(tabular_inputs(rows, data.to_dict()), x[:3])


def test_tabular_inputs_name_missing_required_columns(tmp_path: Path) -> None:
    data = prepare_data(_cfg(_patients(tmp_path)), seed=0)
    bad = _write(tmp_path / "new.csv", [[40, "yes"]], header=["age", "smoker"])
    with pytest.raises(
        DataError,
        match=r"'income', 'region': required columns missing "
        r"\(the model was trained on age, income, smoker, region\)",
    ):
        tabular_inputs(bad, data.to_dict())
    with pytest.raises(DataError, match=r"not trained on tabular data"):
        tabular_inputs(bad, prepare_data(DataConfig(dataset="digits", limit=50), seed=0).to_dict())


def test_bundled_sets() -> None:
    data = prepare_data(DataConfig(dataset="breast_cancer"), seed=0)
    assert data.classes == ["malignant", "benign"] and data.input_shape == (30, 1, 1)
    assert sum(len(s) for s in data.splits.values()) == 569
    wine = prepare_data(DataConfig(dataset="wine", attributes={"exclude": ["alcohol"]}), seed=0)
    assert wine.input_shape == (12, 1, 1) and wine.num_classes == 3


def test_parquet_source(tmp_path: Path) -> None:
    import pyarrow as pa  # the parquet reader, an optional extra installed with the dev extra
    import pyarrow.parquet as pq

    n = 60
    table = pa.table(
        {
            "a": [float(i) for i in range(n)],
            "b": [None if i == 5 else i % 7 for i in range(n)],
            "y": ["lo" if i < 30 else "hi" for i in range(n)],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    cfg = DataConfig(dataset="parquet", root=str(tmp_path / "t.parquet"), target="y", missing="impute")
    data = prepare_data(cfg, seed=0)
    assert data.classes == ["hi", "lo"] and data.input_shape == (2, 1, 1)


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (
            {"target": "diagnosys"},
            DataError,
            r"data\.target: no column 'diagnosys' in .*patients\.csv; did you mean 'diagnosis'\?",
        ),
        (
            {"target": None},
            DataError,
            r"data\.target: name the column of .*patients\.csv that holds the class \(columns: id, age",
        ),
        (
            {"attributes": {"exclude": ["id", "sex"]}},
            DataError,
            r"column 'smoker' has the non-numeric value '(yes|no)' \(patients\.csv:2\); "
            r"list it in data\.attributes\.categorical",
        ),
        (
            {"attributes": {"exclude": ["sexx"]}},
            DataError,
            r"data\.attributes\.exclude: no column 'sexx' in .*; did you mean 'sex'\?",
        ),
        (
            {"attributes": {"exclude": ["diagnosis"]}},
            DataError,
            r"data\.attributes\.exclude: 'diagnosis' is the target column",
        ),
        (
            {"attributes": {"exclude": ["id", "sex", "age", "income", "smoker", "region"]}},
            DataError,
            r"leaves no attribute",
        ),
        (
            {"augment": {"rotation_range": 10}},
            ConfigError,
            r"data\.augment applies to images; csv is tabular data",
        ),
    ],
)
def test_bad_tabular_input(
    tmp_path: Path, kw: dict[str, object], error: type[Exception], message: str
) -> None:
    path = _patients(tmp_path)
    cfg = _cfg(path).model_dump(exclude_unset=True) | {"root": str(path)} | kw
    with pytest.raises(error, match=message):
        prepare_data(DataConfig.model_validate(cfg), seed=0)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["data.attributes={weights: {age: 0}}"],
            r"data\.attributes\.weights\.age must be > 0, got 0; "
            r"to keep an attribute out entirely, list it in data\.attributes\.exclude",
        ),
        (
            ["data.attributes={exclude: [sex], weights: {sex: 0.5}}"],
            r"'sex' is both excluded and in data\.attributes\.weights",
        ),
        (["data.missing=drop"], r"data\.missing"),
    ],
)
def test_bad_attribute_config(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data.dataset=csv", *sets])


def test_bad_csv_files(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,y\n1,2,x\n1,2\n")
    with pytest.raises(DataError, match=r"ragged\.csv: line 3 has 2 fields but the header has 3"):
        prepare_data(DataConfig(dataset="csv", root=str(ragged), target="y"), seed=0)
    nolabel = tmp_path / "nolabel.csv"
    nolabel.write_text("a,y\n" + "".join(f"{i},{'' if i == 4 else i % 2}\n" for i in range(20)))
    with pytest.raises(
        DataError, match=r"data\.target 'y': 1 record\(s\) have no class \(first: nolabel\.csv:6\)"
    ):
        prepare_data(DataConfig(dataset="csv", root=str(nolabel), target="y"), seed=0)
    with pytest.raises(DataError, match=r"csv: no file at .*absent\.csv; set data\.root to a \.csv file"):
        prepare_data(DataConfig(dataset="csv", root=str(tmp_path / "absent.csv"), target="y"), seed=0)


def test_tabular_data_is_not_a_multi_source_member() -> None:
    cfg = DataConfig.model_validate(
        {"sources": [{"name": "a", "dataset": "wine"}, {"name": "b", "dataset": "digits"}]}
    )
    with pytest.raises(DataError, match=r"data\.sources: a is tabular data \(wine\)"):
        prepare_data(cfg, seed=0)
