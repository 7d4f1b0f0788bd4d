"""Error analysis on constructed predictions: shares, confusions, ceilings, examples, export/tags."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from knobwise.diagnose import analyze_errors, export_errors, tag_shares
from knobwise.errors import DataError
from knobwise.metrics import Predictions

CLASSES = ["cat", "dog", "fox"]


def _preds(source: bool = False) -> Predictions:
    true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 1, 1, 0, 2, 2, 1])
    conf = np.array([0.9, 0.6, 0.8, 0.5, 0.95, 0.55, 0.7, 0.99, 0.4, 0.45])
    proba = np.full((10, 3), 0.0, dtype=np.float32)
    for i, (p, c) in enumerate(zip(pred, conf, strict=True)):
        proba[i] = (1 - c) / 2
        proba[i, p] = c
    src = np.array(["scanner"] * 5 + ["phone"] * 5) if source else None
    return Predictions(
        np.arange(100, 110), true, pred, proba, np.array([f"img{i}.png" for i in range(10)]), src
    )


def test_per_class_confusions_and_ceilings() -> None:
    a = analyze_errors(_preds(), CLASSES)
    assert (a["examples"], a["errors"], a["error"]) == (10, 5, 50.0)
    assert [(c["class"], c["errors"]) for c in a["per_class"]] == [("cat", 3), ("dog", 1), ("fox", 1)]
    cat = a["per_class"][0]
    assert cat["share"] == pytest.approx(0.6) and cat["error_if_fixed"] == pytest.approx(20.0)
    assert cat["class_error"] == pytest.approx(75.0)
    top = a["confusions"][0]
    assert (top["true"], top["predicted"], top["errors"], top["error_if_fixed"]) == ("cat", "dog", 2, 30.0)
    assert sum(c["errors"] for c in a["confusions"]) == 5
    assert [r["index"] for r in a["lowest_confidence_incorrect"]][:2] == [109, 103]
    assert a["most_confident_incorrect"][0]["index"] == 102
    assert a["lowest_confidence_correct"][0]["index"] == 108
    assert a["per_source"] == []


def test_per_source_errors() -> None:
    rows = {r["source"]: r for r in analyze_errors(_preds(source=True), CLASSES)["per_source"]}
    assert rows["scanner"]["errors"] == 3 and rows["phone"]["errors"] == 2
    assert rows["scanner"]["error"] == pytest.approx(60.0)


def test_export_then_tags_gives_the_share_per_tag(tmp_path: Path) -> None:
    p = _preds()
    out = tmp_path / "errors.csv"
    assert export_errors(p, CLASSES, out) == 5
    rows = list(csv.DictReader(out.open()))
    assert {"index", "id", "true", "predicted", "probability", "margin", "mislabeled", "blurry"} <= set(
        rows[0]
    )
    assert all(r["blurry"] == "" and r["mislabeled"] == "" for r in rows)
    for r in rows:
        r["blurry"] = "x" if r["true"] == "cat" else ""
        r["mislabeled"] = "yes" if r["index"] == "106" else "no"
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    t = tag_shares(p, CLASSES, out)
    shares = {r["tag"]: r for r in t["tags"]}
    assert t["reviewed"] == 5 and shares["blurry"]["share"] == pytest.approx(0.6)
    assert shares["mislabeled"]["errors"] == 1 and shares["blurry"]["error_if_fixed"] == pytest.approx(20.0)
    assert t["tags"][0]["tag"] == "blurry"


def _tags_file(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "tags.csv"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "index,true,predicted,blurry\n104,dog,dog,x\n",
            r"line 2: example 104 is not a misclassified example",
        ),
        (
            "index,true,predicted,blurry\n101,cat,fox,x\n",
            r"line 2: example 101 says cat->fox, the export has cat->dog",
        ),
        ("index,true,predicted,blurry\n101,cat,dog,x\n101,cat,dog,\n", r"line 3: example 101 is repeated"),
        ("index,true,predicted,blurry\nabc,cat,dog,x\n", r"index 'abc' is not an integer"),
        ("id,true,blurry\n", r"missing column\(s\) index, predicted"),
        ("index,true,predicted\n101,cat,dog\n", r"no tag columns"),
    ],
)
def test_tags_that_do_not_match_the_export(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        tag_shares(_preds(), CLASSES, _tags_file(tmp_path, text))


def test_missing_tags_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="tags file not found"):
        tag_shares(_preds(), CLASSES, tmp_path / "none.csv")
