"""Every rate of the confusion-matrix family, cross-checked against scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hmean as scipy_hmean
from sklearn import metrics as skm

from knobwise.metrics import (
    UndefinedMetricWarning,
    binary_rates,
    classification_metrics,
    confusion_matrix,
)

labels = st.integers(2, 5).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60),
    )
)


def _close(ours: float | None, theirs: float) -> None:
    """None (undefined) must meet NaN; numbers must agree."""
    if ours is None:
        assert math.isnan(theirs), f"we say undefined, scikit-learn says {theirs}"
    else:
        assert not math.isnan(theirs), f"we say {ours}, scikit-learn says undefined"
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def _metrics(k: int, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, dict]:
    t = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = classification_metrics(t, p, [f"c{i}" for i in range(k)], betas=(0.5, 2.0))
    return t, p, m


@settings(max_examples=30, deadline=None)
@given(labels)
def test_confusion_matrix_matches_sklearn(data: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = data
    t, p, m = _metrics(k, pairs)
    expected = skm.confusion_matrix(t, p, labels=list(range(k)))
    assert confusion_matrix(torch.tensor(t), torch.tensor(p), k).tolist() == expected.tolist()
    assert m["confusion_matrix"] == expected.tolist()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert m["error"] == pytest.approx(100 * (1 - skm.accuracy_score(t, p)))


@settings(max_examples=30, deadline=None)
@given(labels)
def test_per_class_rates_match_sklearn(data: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = data
    t, p, m = _metrics(k, pairs)
    lab = list(range(k))
    nan = np.nan
    prec, rec, f1, sup = skm.precision_recall_fscore_support(t, p, labels=lab, zero_division=nan)
    f2 = skm.fbeta_score(t, p, beta=2.0, labels=lab, average=None, zero_division=nan)
    f05 = skm.fbeta_score(t, p, beta=0.5, labels=lab, average=None, zero_division=nan)
    for c in lab:
        r = m["per_class"][f"c{c}"]
        tb, pb = (t == c).astype(int), (p == c).astype(int)  # one-vs-rest
        tn, fp, fn, tp = skm.confusion_matrix(tb, pb, labels=[0, 1]).ravel()
        assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (tp, fp, fn, tn)
        assert (r["p"], r["n"], r["pp"], r["pn"]) == (tp + fn, fp + tn, tp + fp, fn + tn)
        assert r["p"] == sup[c]
        _close(r["prevalence"], tb.mean())
        _close(r["accuracy"], skm.accuracy_score(tb, pb))
        _close(r["precision"], prec[c])
        _close(r["recall"], rec[c])
        _close(r["f1"], f1[c])
        _close(r["f2"], f2[c])
        _close(r["f0.5"], f05[c])
        # Specificity is the recall of the negative class, NPV its precision (pos_label trick).
        spec = skm.recall_score(tb, pb, pos_label=0, zero_division=nan)
        npv = skm.precision_score(tb, pb, pos_label=0, zero_division=nan)
        _close(r["specificity"], spec)
        _close(r["npv"], npv)
        _close(r["fpr"], 1 - spec)
        _close(r["fnr"], 1 - rec[c])
        _close(r["fdr"], 1 - prec[c])
        _close(r["for"], 1 - npv)
        if 0 < tb.sum() < len(tb):  # class_likelihood_ratios needs both classes present
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lrp, lrm = skm.class_likelihood_ratios(tb, pb, labels=[0, 1], replace_undefined_by=nan)
            _close(r["lr_plus"], lrp)
            _close(r["lr_minus"], lrm)
            dor = lrp / lrm if not (math.isnan(lrp) or math.isnan(lrm) or lrm == 0) else nan
            _close(r["dor"], dor)


@settings(max_examples=30, deadline=None)
@given(labels)
def test_aggregates_match_sklearn(data: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = data
    t, p, m = _metrics(k, pairs)
    lab = list(range(k))
    for avg in ("micro", "macro", "weighted"):
        prec, rec, f1, _ = skm.precision_recall_fscore_support(
            t, p, labels=lab, average=avg, zero_division=np.nan
        )
        f2 = skm.fbeta_score(t, p, beta=2.0, labels=lab, average=avg, zero_division=np.nan)
        for rate, theirs in (("precision", prec), ("recall", rec), ("f1", f1), ("f2", f2)):
            rows = m["per_class"].values()
            if avg == "weighted" and sum(r["p"] for r in rows if r[rate] is not None) == 0:
                # Every defined class has support 0: a weighted mean is 0/0. scikit-learn falls
                # back to the unweighted mean there; we report it undefined.
                assert m[avg][rate] is None
                continue
            _close(m[avg][rate], theirs)
    # Harmonic mean over the classes where the rate is defined.
    for rate in ("recall", "precision", "specificity"):
        vals = [r[rate] for r in m["per_class"].values() if r[rate] is not None]
        expected = (0.0 if min(vals) == 0 else float(scipy_hmean(vals))) if vals else np.nan
        _close(m["hmean"][rate], expected)
    # Macro of a rate scikit-learn lacks: the mean of our (cross-checked) per-class values.
    spec = [r["specificity"] for r in m["per_class"].values() if r["specificity"] is not None]
    _close(m["macro"]["specificity"], float(np.mean(spec)) if spec else np.nan)
    # Micro precision, recall and F1 of single-label data equal the accuracy.
    assert m["micro"]["recall"] == pytest.approx(m["accuracy"])


def test_class_never_predicted_and_class_absent() -> None:
    # Class 2 is never predicted (precision 0/0); class 3 never occurs (recall 0/0).
    t = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 3, 0, 1]
    with pytest.warns(UndefinedMetricWarning, match=r"c2\.precision.*c3\.recall|c3\.recall"):
        m = classification_metrics(t, p, ["c0", "c1", "c2", "c3"])
    assert m["per_class"]["c2"]["precision"] is None
    assert m["per_class"]["c2"]["recall"] == 0.0
    assert m["per_class"]["c2"]["f1"] == 0.0  # TP=0 with FN>0: defined and 0
    assert m["per_class"]["c3"]["recall"] is None
    assert m["per_class"]["c3"]["precision"] == 0.0
    prec, rec, _, _ = skm.precision_recall_fscore_support(t, p, labels=[0, 1, 2, 3], zero_division=np.nan)
    assert math.isnan(prec[2]) and math.isnan(rec[3])
    # The macro mean leaves the undefined class out, like scikit-learn with zero_division=nan.
    _close(
        m["macro"]["recall"],
        skm.recall_score(t, p, labels=[0, 1, 2, 3], average="macro", zero_division=np.nan),
    )


def test_undefined_is_null_never_zero() -> None:
    # A single class, always right: N = 0, so specificity, FPR and NPV are 0/0.
    with pytest.warns(UndefinedMetricWarning, match="undefined rates"):
        r = binary_rates([1, 1], [1, 1], positive=1)
    assert r["recall"] == 1.0
    assert r["specificity"] is None and r["fpr"] is None and r["npv"] is None
    assert r["lr_plus"] is None and r["dor"] is None


def test_binary_positive_class_and_json_shape() -> None:
    t = [0, 1, 1, 0, 1, 0, 0]
    p = [0, 1, 0, 0, 1, 1, 0]
    m = classification_metrics(t, p, ["healthy", "sick"], positive="sick")
    b = m["binary"]
    assert b["positive"] == "sick"
    assert b["recall"] == pytest.approx(skm.recall_score(t, p))
    assert b["specificity"] == pytest.approx(skm.recall_score(t, p, pos_label=0))
    lrp, lrm = skm.class_likelihood_ratios(t, p)
    assert b["lr_plus"] == pytest.approx(lrp) and b["lr_minus"] == pytest.approx(lrm)
    assert b["dor"] == pytest.approx(lrp / lrm)
    other = classification_metrics(t, p, ["healthy", "sick"], positive=0)["binary"]
    assert other["positive"] == "healthy" and other["recall"] == pytest.approx(
        skm.recall_score(t, p, pos_label=0)
    )
    for key in (
        "accuracy",
        "error",
        "per_class",
        "macro",
        "weighted",
        "micro",
        "hmean",
        "confusion_matrix",
        "classes",
    ):
        assert key in m


def test_labels_outside_class_range_are_named() -> None:
    with pytest.raises(ValueError, match=r"y_pred: labels \[3, 7\] are outside the class range 0\.\.2"):
        classification_metrics([0, 1, 2], [3, 7, 3], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"y_true: labels \[-1\] are outside the class range 0\.\.1"):
        confusion_matrix(torch.tensor([-1, 0]), torch.tensor([0, 0]), 2)
    with pytest.raises(ValueError, match="y_true has 2 labels but y_pred has 1"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="must be integers"):
        confusion_matrix([0.5, 1], [0, 1], 2)
    with pytest.raises(ValueError, match=r"positive class 'x' is not one of"):
        classification_metrics([0, 1], [0, 1], ["a", "b"], positive="x")
    with pytest.raises(ValueError, match=r"proba must have shape \(2, 2\)"):
        classification_metrics([0, 1], [0, 1], ["a", "b"], proba=np.ones((2, 3)))


def test_confusion_matrix_stays_on_device_and_in_label_order() -> None:
    t = torch.tensor([2, 2, 0])
    cm = confusion_matrix(t, torch.tensor([2, 0, 0]), 4)
    assert cm.device == t.device and cm.dtype == torch.int64
    assert cm.tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_log_loss_and_confidence_from_probabilities() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    t = [0, 1, 1]
    m = classification_metrics(t, proba.argmax(1), ["a", "b"], proba=proba)
    assert m["loss"] == pytest.approx(skm.log_loss(t, proba), rel=1e-6)
    assert m["confidence"]["top1"]["median"] == pytest.approx(0.7)
    assert m["confidence"]["top1_wrong_mean"] == pytest.approx(0.6)
