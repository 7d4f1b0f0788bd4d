"""predictions.npz: round trip without pickle, top-1/margin, hesitant predictions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.metrics import (
    Predictions,
    confidence_summary,
    hesitant_predictions,
    load_prediction_classes,
    load_predictions,
    save_predictions,
)


def _split(n: int, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), n).astype(np.float32)
    return {"index": np.arange(n) * 2, "true": rng.integers(0, k, n), "proba": proba}


def test_round_trip_every_split(tmp_path: Path) -> None:
    per = {s: _split(20 + i, 3, i) for i, s in enumerate(("train", "train_dev", "dev", "test"))}
    per["dev"]["ids"] = [f"img{i}.png" for i in range(22)]
    per["dev"]["source"] = np.array(["web", "phone"] * 11, dtype=object)
    per["test"]["true"] = torch.tensor(per["test"]["true"])  # tensors are accepted too
    path = tmp_path / "predictions.npz"
    save_predictions(path, per, classes=["a", "b", "c"])
    loaded = load_predictions(path)
    assert list(loaded) == ["train", "train_dev", "dev", "test"]
    dev = loaded["dev"]
    assert dev.index.dtype == np.int64 and dev.pred.dtype == np.int64 and dev.proba.dtype == np.float32
    assert dev.ids is not None and dev.ids.dtype.kind == "U" and dev.ids[3] == "img3.png"
    assert dev.source is not None and dev.source.tolist()[:2] == ["web", "phone"]
    assert loaded["train"].ids is None and loaded["train"].source is None
    np.testing.assert_array_equal(dev.pred, per["dev"]["proba"].argmax(1))
    assert load_prediction_classes(path) == ["a", "b", "c"]
    with zipfile.ZipFile(path) as z:
        assert "dev_source.npy" in z.namelist() and "classes.npy" in z.namelist()
    np.load(path, allow_pickle=False)["dev_ids"]  # readable without pickle
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.npz"]  # no temp file left


def test_top1_margin_and_hesitant() -> None:
    proba = np.array([[0.9, 0.05, 0.05], [0.45, 0.40, 0.15], [0.34, 0.33, 0.33], [0.5, 0.2, 0.3]], np.float32)
    p = Predictions(
        np.array([10, 11, 12, 13]), np.array([0, 1, 2, 0]), proba.argmax(1).astype(np.int64), proba
    )
    np.testing.assert_allclose(p.top1, [0.9, 0.45, 0.34, 0.5])
    np.testing.assert_allclose(p.margin, [0.85, 0.05, 0.01, 0.2], atol=1e-6)
    h = hesitant_predictions(p, ["a", "b", "c"])
    assert [x["index"] for x in h] == [12, 11, 13]  # smallest margin first; row 10 is confident
    assert h[1] == pytest.approx(
        {
            "index": 11,
            "id": None,
            "source": None,
            "true": "b",
            "pred": "a",
            "top1": 0.45,
            "second": "b",
            "second_proba": 0.40,
            "margin": 0.05,
        }
    )
    assert len(hesitant_predictions(p, ["a", "b", "c"], limit=1)) == 1
    s = confidence_summary(p)
    assert s["hesitant"] == 3 and s["top1"]["median"] == pytest.approx(0.475)


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="predictions for split 'dev' lack proba"):
        save_predictions(tmp_path / "p.npz", {"dev": {"index": [0], "true": [0]}})
    with pytest.raises(ValueError, match="true has 2 rows, proba has 1"):
        save_predictions(tmp_path / "p.npz", {"dev": {"index": [0], "true": [0, 1], "proba": [[1.0]]}})
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(Exception, match="not a predictions file"):
        load_predictions(bad)
    with pytest.raises(Exception, match="file not found"):
        load_predictions(tmp_path / "missing.npz")
