"""Expressions, directions, constraints, ranking; objective paths and the evaluate config."""

from __future__ import annotations

import warnings

import pytest
from sklearn import metrics as skm

from knobwise.config import load_config
from knobwise.errors import ConfigError
from knobwise.metrics import (
    UndefinedMetricWarning,
    check_objective,
    check_objective_classes,
    classification_metrics,
    resolve_metric,
    resolve_run_metric,
)
from knobwise.objective import metric_direction, parse_constraint
from knobwise.select import select_candidates

ROWS = [
    {"name": "big", "dev.accuracy": "97%", "latency_ms": 130, "recall": 0.9, "precision": 0.8, "kind": "cnn"},
    {
        "name": "mid",
        "dev.accuracy": 0.96,
        "latency_ms": "80",
        "recall": 0.7,
        "precision": 0.95,
        "kind": "cnn",
    },
    {"name": "small", "dev.accuracy": 0.93, "latency_ms": 20, "recall": 0.8, "precision": 0.8, "kind": "mlp"},
    {"name": "broken", "dev.accuracy": "", "latency_ms": 10, "recall": 0.1, "precision": 0.1, "kind": "mlp"},
]


def test_optimize_subject_to_constraints() -> None:
    r = select_candidates(ROWS, "dev.accuracy", ["latency_ms <= 100"])
    assert r.winner == "mid" and r.direction == "max"
    assert [c.name for c in r.ranking] == ["mid", "small", "broken", "big"]
    big = r.ranking[-1]
    assert not big.satisfied and big.violations == ["latency_ms <= 100 (got 130)"] and big.value == 0.97
    d = r.to_dict()
    assert d["winner"] == "mid"
    assert d["ranking"][0] == {
        "name": "mid", "value": 0.96, "satisfied": True, "violations": [],
        "constraint_values": {"latency_ms <= 100": 80.0},
    }  # fmt: skip
    assert d["ranking"][2]["value"] is None  # a missing value ranks after every number


def test_expressions_and_overrides() -> None:
    hm = select_candidates(ROWS, "hmean(recall, precision)")
    assert [c.name for c in hm.ranking][:3] == ["big", "mid", "small"]  # 0.847, 0.806, 0.8
    assert hm.ranking[1].value == pytest.approx(2 * 0.7 * 0.95 / 1.65)
    r = select_candidates(ROWS, "fbeta(precision, recall, 2)")
    assert r.ranking[0].value == pytest.approx(5 * 0.8 * 0.9 / (4 * 0.8 + 0.9))
    assert [c.name for c in select_candidates(ROWS, "min(recall, precision)").ranking][:3] == [
        "big",
        "small",
        "mid",
    ]
    assert select_candidates(ROWS, "mean(recall, precision)").winner == "big"
    assert select_candidates(ROWS, "latency_ms").winner == "broken"
    assert select_candidates(ROWS, "latency_ms", direction="max").winner == "big"
    assert select_candidates(ROWS, "dev.accuracy", ["dev.accuracy >= 96.5%"]).winner == "big"
    none = select_candidates(ROWS, "dev.accuracy", ["latency_ms < 5"])
    assert none.winner is None and all(not c.satisfied for c in none.ranking)


def test_directions_follow_names() -> None:
    for name in ("accuracy", "dev.macro.f1", "roc_auc_score", "precision", "recall", "f2", "throughput"):
        assert metric_direction(name) == "max", name
    for name in ("error", "test.loss", "latency", "latency_p95_ms", "val_loss", "fpr", "params", "size_mb"):
        assert metric_direction(name) == "min", name
    with pytest.raises(ConfigError, match="cannot tell whether to maximize or minimize 'widgets'"):
        metric_direction("widgets")
    with pytest.raises(ConfigError, match=r"mixes directions: recall \(maximize\), latency_ms \(minimize\)"):
        select_candidates(ROWS, "mean(recall, latency_ms)")


def test_bad_input_messages() -> None:
    with pytest.raises(
        ConfigError,
        match=r"--optimize 'dev.acc': no column 'dev.acc'; did you mean 'dev.accuracy'\? "
        r"\(columns: name, dev.accuracy, latency_ms, recall, precision, kind\)",
    ):
        select_candidates(ROWS, "dev.acc")
    with pytest.raises(
        ConfigError,
        match=r"--optimize 'mean\(recall,, precision\)': expected a column, number or "
        r"function, got ',' at column 13 \(mean\(recall,>>, precision\)\)",
    ):
        select_candidates(ROWS, "mean(recall,, precision)")
    with pytest.raises(ConfigError, match=r"unknown function 'avg'"):
        select_candidates(ROWS, "avg(recall)")
    with pytest.raises(
        ConfigError,
        match=r"--satisfy 'kind <= 3': column 'kind' is not numeric \(candidate 'big' "
        r"has 'cnn'\)",
    ):
        select_candidates(ROWS, "recall", ["kind <= 3"])
    with pytest.raises(ConfigError, match=r"--satisfy 'latency_ms = 3': operator '=' is not allowed"):
        select_candidates(ROWS, "recall", ["latency_ms = 3"])
    with pytest.raises(ConfigError, match=r"expected EXPR OP VALUE"):
        parse_constraint("latency_ms", "--satisfy")
    with pytest.raises(ConfigError, match=r"expected a number after '<=', got 'fast'"):
        parse_constraint("latency_ms <= fast", "--satisfy")
    with pytest.raises(ConfigError, match="no candidates"):
        select_candidates([], "recall")


def _split() -> dict:
    t = [0, 0, 1, 1, 2, 2, 2, 0]
    p = [0, 1, 1, 1, 2, 0, 2, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return classification_metrics(t, p, ["cat", "dog", "eel"])


def test_resolve_metric_paths() -> None:
    m = _split()
    t = [0, 0, 1, 1, 2, 2, 2, 0]
    p = [0, 1, 1, 1, 2, 0, 2, 0]
    assert resolve_metric(m, "accuracy") == m["accuracy"]
    assert resolve_metric(m, "macro.f1") == pytest.approx(skm.f1_score(t, p, average="macro"))
    assert resolve_metric(m, "per_class.cat.recall") == pytest.approx(2 / 3)
    assert resolve_metric(m, "per_class.cat.sensitivity") == resolve_metric(m, "per_class.cat.tpr")
    assert resolve_metric(m, "hmean.recall") == m["hmean"]["recall"]
    for avg in ("macro", "weighted", "micro"):  # any beta, from the stored counts
        assert resolve_metric(m, f"{avg}.f3") == pytest.approx(skm.fbeta_score(t, p, beta=3, average=avg))
    assert resolve_metric(m, "per_class.dog.f0.5") == pytest.approx(
        skm.fbeta_score(t, p, beta=0.5, average=None)[1]
    )
    with pytest.raises(ConfigError, match=r"no class 'cow' \(classes: cat, dog, eel\)"):
        resolve_metric(m, "per_class.cow.recall")
    with pytest.raises(ConfigError, match=r"unknown rate 'recal'; did you mean 'recall'"):
        resolve_metric(m, "macro.recal")
    with pytest.raises(ConfigError, match=r"binary rates exist for two-class problems only"):
        resolve_metric(m, "binary.recall")
    with pytest.raises(ConfigError, match=r"unknown metric 'acuracy'; did you mean 'accuracy'"):
        resolve_metric(m, "acuracy")


def test_objective_and_constraints() -> None:
    metrics = {"dev": _split(), "test": _split(), "model": {"params": 5000}, "latency": {"median_ms": 3.0}}
    o = check_objective(metrics, "hmean(macro.recall, macro.precision)", ["latency_ms <= 2", "params < 1e4"])
    assert o["split"] == "dev" and o["direction"] == "max"
    assert o["constraints"] == [
        {"expr": "latency_ms <= 2", "value": 3.0, "satisfied": False},
        {"expr": "params < 1e4", "value": 5000.0, "satisfied": True},
    ]
    assert not o["satisfied"]
    assert resolve_run_metric(metrics, "test.per_class.eel.recall") == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="latency was not measured"):
        resolve_run_metric({"dev": _split()}, "latency_ms")
    with pytest.raises(ConfigError, match=r"the run has no train_dev split \(splits: dev\)"):
        resolve_run_metric({"dev": _split()}, "train_dev.accuracy")
    check_objective_classes("per_class.dog.recall", [], ["cat", "dog"])
    with pytest.raises(ConfigError, match=r"names class 'dgo'; did you mean 'dog'"):
        check_objective_classes("accuracy", ["per_class.dgo.recall >= 0.5"], ["cat", "dog"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("evaluate.metric=macro.recal", r"evaluate.metric: metric 'macro.recal': unknown rate 'recal'"),
        ("evaluate.metric=mean(macro.f1,", r"evaluate.metric 'mean\(macro.f1,': expected a column"),
        ("evaluate.metric=widgets", r"evaluate.metric: unknown metric 'widgets'"),
        (
            'evaluate.constraints=["lat_ms <= 3"]',
            r"evaluate.constraints\[0\]: unknown metric 'lat_ms'; did you mean",
        ),
        (
            'evaluate.constraints=["latency_ms == 3"]',
            r"evaluate.constraints\[0\] 'latency_ms == 3': operator '=='",
        ),
        ("evaluate.direction=up", r"evaluate.direction"),
    ],
)
def test_config_validates_metric_and_constraints(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_config_accepts_paths_from_the_issue() -> None:
    for metric in ("hmean.recall", "macro.f1", "per_class.cat.recall", "accuracy", "test.weighted.f2"):
        assert load_config(None, [f"evaluate.metric={metric}"]).evaluate.metric == metric
    cfg = load_config(None, ['evaluate.constraints=["latency_ms <= 100", "size_mb < 5"]'])
    assert cfg.evaluate.constraints == ["latency_ms <= 100", "size_mb < 5"]
