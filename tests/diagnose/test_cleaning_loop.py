"""The whole cleaning loop on MNIST: train on planted label flips, find them with
``knobwise errors --label-issues``, retrain with ``data.relabel`` / ``data.exclude`` pointing at the
CSV exactly as written, and check that the flips are fixed and dev accuracy does not drop."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from knobwise.cli import main
from knobwise.config import DataConfig, load_config
from knobwise.data import load_source, prepare_data
from knobwise.errors import DataError
from knobwise.run import train_experiment

N_POOL, N_DEV, N_FLIP = 1000, 300, 35


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """An npz of 1,000 MNIST training images (the last 300 are dev, clean) and 300 test images, with
    35 training labels flipped; returns (file, flipped pool positions, true labels)."""
    src = load_source(DataConfig(dataset="mnist"))
    assert src.x_test is not None and src.y_test is not None
    rng = np.random.default_rng(0)
    y_true = src.y[:N_POOL].copy()
    flipped = np.sort(rng.choice(N_POOL - N_DEV, N_FLIP, replace=False))  # train side only
    y = y_true.copy()
    y[flipped] = (y[flipped] + rng.integers(1, 10, size=N_FLIP)) % 10
    path = tmp_path_factory.mktemp("planted") / "mnist_flipped.npz"
    np.savez(path, x=src.x[:N_POOL], y=y, x_test=src.x_test[:300], y_test=src.y_test[:300])
    return path, flipped, y_true


def _overrides(npz: Path) -> list[str]:
    return [
        "data.dataset=arrays",
        f"data.root={npz}",
        "data.split={train: 0.7, dev: 0.3, test: 0.0, own_test: true, ordered: true}",
        "model.layers=[flatten, {dense: {units: 128, activation: relu}}, {dense: {units: 10}}]",
        "model.name=null",
        "train.epochs=6",
        "train.batch_size=32",
        "train.optimizer={name: adam, lr: 0.002}",
        "train.schedule=null",
        "train.grad_stats=false",
    ]


def _issues(run: Path, extra: list[str]) -> list[dict[str, str]]:
    assert main(["errors", str(run), "--label-issues", "--folds", "3", "--epochs", "6", *extra]) == 0
    with open(run / "label_issues.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_loop_fixes_or_removes_the_flips(
    planted: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    npz, flipped, y_true = planted
    n_train = N_POOL - N_DEV  # the split is ordered: pool positions 0..699 are train, in order
    base = train_experiment(load_config(None, _overrides(npz)), tmp_path / "noisy", quiet=True)
    rows = _issues(tmp_path / "noisy", ["--clusters", "30"])
    issues = tmp_path / "noisy" / "label_issues.csv"
    assert rows and {"label", "suggested", "flagged", "cluster_majority"} <= set(rows[0])

    # Correct: data.relabel takes 'suggested' of the flagged rows.
    cfg = load_config(None, [*_overrides(npz), f"data.relabel={issues}"])
    relabeled = train_experiment(cfg, tmp_path / "relabeled", quiet=True)
    y_now = prepare_data(cfg.data, seed=0).splits["train"].y.numpy()
    fixed = int((y_now[flipped] == y_true[flipped]).sum())
    log = (tmp_path / "relabeled" / "log.txt").read_text()
    assert "column 'suggested'" in log and "0 labels changed" not in log
    # Measured (seed 0): 28 of the 35 flips fixed; the small MLP also flags ~36 ambiguous but
    # correct labels, so excluding is the safer knob with a weak model (below).
    assert fixed >= 0.75 * N_FLIP, fixed
    assert relabeled.metrics["dev"]["accuracy"] >= base.metrics["dev"]["accuracy"]

    # Remove: data.exclude drops the flagged rows.
    cfg = load_config(None, [*_overrides(npz), f"data.exclude={issues}"])
    excluded = train_experiment(cfg, tmp_path / "excluded", quiet=True)
    kept = set(prepare_data(cfg.data, seed=0).splits["train"].index.tolist())
    removed = int(sum(int(i) not in kept for i in flipped))
    assert removed >= 0.75 * N_FLIP, removed
    assert excluded.metrics["train"]["n"] == n_train - sum(r["flagged"] == "True" for r in rows)
    assert excluded.metrics["dev"]["accuracy"] >= base.metrics["dev"]["accuracy"]

    # --clusters: relabel the cluster disagreements to their cluster's majority label instead.
    cfg = load_config(None, [*_overrides(npz), f"data.relabel={issues}", "data.relabel_to=cluster_majority"])
    y_cluster = prepare_data(cfg.data, seed=0).splits["train"].y.numpy()
    expected = {int(r["index"]): int(r["cluster_majority"]) for r in rows if r["cluster_disagrees"] == "True"}
    assert expected and {i: int(y_cluster[i]) for i in expected} == expected
    untouched = np.setdiff1d(np.arange(n_train), list(expected))
    assert np.array_equal(
        y_cluster[untouched],
        prepare_data(load_config(None, _overrides(npz)).data, seed=0).splits["train"].y.numpy()[untouched],
    )


def test_exclude_with_the_label_issues_csv_drops_only_flagged_rows(tmp_path: Path) -> None:
    base = prepare_data(DataConfig(dataset="digits"), seed=0)
    tr = base.splits["train"]
    f = tmp_path / "issues.csv"
    f.write_text(
        "rank,index,id,label,suggested,flagged\n"
        f"1,{tr.index[0]},,1,7,True\n2,{tr.index[1]},,2,3,True\n3,{tr.index[2]},,4,4,False\n"
    )
    cleaned = prepare_data(DataConfig(dataset="digits", exclude=str(f)), seed=0)
    assert len(cleaned.splits["train"]) == len(tr) - 2
    assert any("1 listed rows not flagged, kept" in w for w in cleaned.warnings)
    relabeled = prepare_data(DataConfig(dataset="digits", relabel=str(f)), seed=0)
    y = relabeled.splits["train"].y
    assert int(y[0]) == 7 and int(y[1]) == 3 and int(y[2]) == int(tr.y[2])
    as_given = prepare_data(DataConfig(dataset="digits", relabel=str(f), relabel_to="label"), seed=0)
    assert int(as_given.splits["train"].y[0]) == 1


def test_relabel_to_a_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "issues.csv"
    f.write_text("index,label,suggested,flagged\n3,1,7,True\n")
    with pytest.raises(
        DataError, match=r"data.relabel_to: 'cluster_majority' is not a column of .*--clusters K"
    ):
        prepare_data(DataConfig(dataset="digits", relabel=str(f), relabel_to="cluster_majority"), seed=0)
