"""Suspected mislabeled examples: confident learning, k-fold out-of-sample probabilities, clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.diagnose import cluster_disagreement, confident_learning, find_label_issues
from knobwise.errors import ConfigError
from knobwise.models import build_model


def test_confident_learning_flags_off_diagonal_examples() -> None:
    proba = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.8, 0.1, 0.1],
            [0.1, 0.85, 0.05],
            [0.05, 0.9, 0.05],
            [0.1, 0.1, 0.8],
            [0.86, 0.09, 0.05],
        ]
    )
    labels = np.array([0, 0, 1, 1, 2, 2])
    flagged, score, suggested = confident_learning(proba, labels)
    assert flagged.tolist() == [False, False, False, False, False, True]
    assert suggested[5] == 0 and score[5] == pytest.approx(0.86 - 0.05)
    assert np.argmax(score) == 5


def test_flipped_labels_are_ranked_first_on_digits(tmp_path: Path) -> None:
    """A small CI version of bench/label_issues.py: 3% of digits labels flipped, 3 folds."""
    cfg = load_config(
        None, ["model.name=mlp", "train.epochs=8", "train.batch_size=32", "train.schedule=null"]
    )
    data = prepare_data(cfg.data, seed=0)
    train = data.splits["train"]
    rng = np.random.default_rng(0)
    flipped = np.sort(rng.choice(len(train), 40, replace=False))
    y = train.y.numpy().copy()
    y[flipped] = (y[flipped] + rng.integers(1, 10, size=40)) % 10
    train.y = torch.from_numpy(y)
    torch.manual_seed(0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    res = find_label_issues(cfg, data, folds=3, epochs=8, model=model, clusters=20, top=60)
    pos = {int(i): r for r, i in enumerate(train.index)}
    ranked = np.array([pos[r["index"]] for r in res.rows])
    top = ranked[:40]
    recall = len(np.intersect1d(top, flipped)) / 40
    assert recall >= 0.7, recall
    assert res.proba.shape == (len(train), 10) and np.allclose(res.proba.sum(1), 1, atol=1e-4)
    row = res.rows[0]
    assert row["flagged"] and row["label"] != row["suggested"] and row["cluster_disagrees"] in (True, False)
    assert [r["rank"] for r in res.rows] == list(range(1, len(res.rows) + 1))
    res.write_csv(tmp_path / "issues.csv")
    header = (tmp_path / "issues.csv").read_text().splitlines()[0]
    assert header == (
        "rank,index,id,label,suggested,score,self_confidence,flagged,cluster_disagrees,cluster_majority"
    )


def test_cluster_check_marks_labels_against_their_cluster() -> None:
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    labels = np.array([0] * 20 + [1] * 20)
    labels[3] = 1
    assert np.flatnonzero(cluster_disagreement(feats, labels, 2)).tolist() == [3]


def test_bad_settings() -> None:
    cfg = load_config(None, ["model.name=mlp", "data.limit=100"])
    data = prepare_data(cfg.data, seed=0)
    with pytest.raises(ConfigError, match="--folds must be >= 2"):
        find_label_issues(cfg, data, folds=1)
    with pytest.raises(ConfigError, match="--epochs must be >= 1"):
        find_label_issues(cfg, data, epochs=0)
