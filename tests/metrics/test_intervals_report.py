"""Confidence intervals and the classification report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import binomtest
from sklearn import metrics as skm

from knobwise.metrics import (
    UndefinedMetricWarning,
    bootstrap_intervals,
    classification_metrics,
    classification_report,
    format_interval,
    interval_rows,
    report_dict,
    report_text,
    split_intervals,
    wilson_interval,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (8, 10), (10, 10), (47, 300)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n, 0.95)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)
    assert wilson_interval(0, 0) is None


def _noisy(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))
    return t, p


def test_bootstrap_is_seeded_and_shrinks_with_more_data() -> None:
    t, p = _noisy(400, 3, 0)
    tt, pp = torch.tensor(t), torch.tensor(p)
    a = bootstrap_intervals(tt, pp, 3, n_boot=200, seed=1)
    assert a == bootstrap_intervals(tt, pp, 3, n_boot=200, seed=1)
    assert a != bootstrap_intervals(tt, pp, 3, n_boot=200, seed=2)
    macro_f1 = skm.f1_score(t, p, average="macro")
    lo, hi = a["macro"]["f1"]
    assert lo < macro_f1 < hi
    t2, p2 = _noisy(4000, 3, 0)
    lo2, hi2 = bootstrap_intervals(torch.tensor(t2), torch.tensor(p2), 3, n_boot=200, seed=1)["macro"]["f1"]
    assert hi2 - lo2 < (hi - lo) / 2  # ~1/sqrt(10) of the width with 10x the data


def test_ci_on_request_uses_wilson_for_proportions() -> None:
    t, p = _noisy(200, 3, 3)
    m = classification_metrics(t, p, ["a", "b", "c"], ci=0.9, n_boot=100)
    ci = m["ci"]
    assert ci["level"] == 0.9 and ci["n_boot"] == 100
    row = m["per_class"]["b"]
    assert ci["per_class"]["b"]["recall"] == pytest.approx(wilson_interval(row["tp"], row["p"], 0.9))
    assert ci["accuracy"] == pytest.approx(wilson_interval(int((t == p).sum()), 200, 0.9))
    assert ci["macro"]["f1"][0] < m["macro"]["f1"] < ci["macro"]["f1"][1]
    assert "ci" not in classification_metrics(t, p, ["a", "b", "c"])
    with pytest.raises(ValueError, match="confidence level must be between 0 and 1, got 95"):
        classification_metrics(t, p, ["a", "b", "c"], ci=95)


def test_report_matches_sklearn_plus_specificity_and_npv() -> None:
    t, p = _noisy(150, 4, 5)
    names = ["w", "x", "y", "z"]
    m = classification_metrics(t, p, names)
    ours = report_dict(m)
    theirs = skm.classification_report(t, p, labels=[0, 1, 2, 3], target_names=names, output_dict=True)
    for key in [*names, "macro avg", "weighted avg"]:
        for col in ("precision", "recall", "f1-score", "support"):
            assert ours[key][col] == pytest.approx(theirs[key][col]), (key, col)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"])
    assert ours["x"]["specificity"] == pytest.approx(skm.recall_score(t == 1, p == 1, pos_label=False))
    assert ours["x"]["npv"] == pytest.approx(skm.precision_score(t == 1, p == 1, pos_label=False))
    text = report_text(m)
    assert text.splitlines()[0].split() == [
        "precision",
        "recall",
        "f1-score",
        "specificity",
        "npv",
        "support",
    ]
    assert f"{ours['macro avg']['npv']:.2f}" in text.splitlines()[-2]


def test_report_shows_undefined_as_na() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        text = classification_report([0, 0, 1], [0, 0, 0], ["a", "b"])
        d = classification_report([0, 0, 1], [0, 0, 0], ["a", "b"], output_dict=True)
    assert isinstance(text, str) and isinstance(d, dict)
    assert d["b"]["precision"] is None
    b_line = next(line for line in text.splitlines() if line.strip().startswith("b "))
    assert b_line.split()[1] == "n/a"


def test_report_intervals_and_n_behind_each_rate() -> None:
    t, p = _noisy(300, 3, 7)
    m = classification_metrics(t, p, ["a", "b", "c"])
    rows = {r["label"]: r["cells"] for r in interval_rows(m)}
    b = m["per_class"]["b"]
    # n is the count the rate is a proportion of; the interval is Wilson's on exactly that count.
    for col, num, den in (("precision", "tp", "pp"), ("recall", "tp", "p"), ("specificity", "tn", "n")):
        cell = rows["b"][col]
        assert cell["n"] == b[den]
        assert [cell["low"], cell["high"]] == pytest.approx(list(wilson_interval(b[num], b[den])))
    assert rows["b"]["npv"]["n"] == b["pn"] and rows["b"]["f1-score"]["n"] == b["tp"] + b["fp"] + b["fn"]
    acc = rows["accuracy"]["accuracy"]
    assert acc["n"] == 300 and [acc["low"], acc["high"]] == pytest.approx(
        list(wilson_interval(int((t == p).sum()), 300))
    )
    for label in ("macro avg", "weighted avg", "hmean"):  # bootstrap: around the value, n = all
        f1 = rows[label]["f1-score"]
        assert f1["low"] < f1["value"] < f1["high"] and f1["n"] == 300
    # The split's own ci entry (evaluate --ci) is used when it has the asked level.
    with_ci = classification_metrics(t, p, ["a", "b", "c"], ci=0.95, seed=3)
    assert split_intervals(with_ci) is with_ci["ci"]
    text = report_text(m, digits=3, intervals=0.95)
    assert "95% intervals and n" in text
    b_line = next(line for line in text.splitlines() if line.strip().startswith("b ") and "[" in line)
    assert format_interval(rows["b"]["recall"]) in b_line and f"n={b['p']}" in b_line
    assert "[" not in report_text(m)  # without intervals: the plain report


def test_report_intervals_undefined_rates() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = classification_metrics([0, 0, 1], [0, 0, 0], ["a", "b"])
    rows = {r["label"]: r["cells"] for r in interval_rows(m, n_boot=50)}
    assert rows["b"]["precision"] == {"value": None, "low": None, "high": None, "n": 0}
    assert format_interval(rows["b"]["precision"]) == "n/a [n/a] n=0"
