"""Label issues on an MNIST subset with labels flipped on purpose: recall, precision and time.

Flips ``--noise`` (default 2%) of the training labels to a random other class, runs the k-fold
confident-learning ranking (``knobwise.diagnose.find_label_issues``) and prints, for the flagged
set and for the top-k suspects (k = number flipped), the recall and precision of the flipped
labels, and the wall time. Run from the repository root:

    KNOBWISE_DATA_DIR=../shared/data python bench/label_issues.py [--limit 10000] [--epochs 4]

With ``--retrain`` it also trains the model on the noisy labels and with the suspects excluded
(``data.exclude``), and prints both dev accuracies (the cleaning loop).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.diagnose import find_label_issues
from knobwise.io import write_csv

SMALL_CNN = [
    {"conv2d": {"filters": 16, "kernel_size": 3, "activation": "relu"}},
    {"maxpool2d": {"pool_size": 2}},
    {"conv2d": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
    {"maxpool2d": {"pool_size": 2}},
    "flatten",
    {"dense": {"units": 64, "activation": "relu"}},
    {"dense": {"units": 10}},
]


def flip_labels(y: np.ndarray, fraction: float, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``y`` with ``fraction`` of the labels moved to a random other class, and which."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), int(round(fraction * len(y))), replace=False))
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, k, size=len(rows))) % k
    return noisy, rows


def precision_recall(picked: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hit = len(np.intersect1d(picked, truth))
    return (hit / len(picked) if len(picked) else float("nan")), hit / len(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10000, help="MNIST examples in the pool (train + dev)")
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()
    overrides = [
        f"data.limit={args.limit}",
        "data.dataset=mnist",
        "data.test_limit=2000",
        "train.batch_size=64",
        "train.optimizer.lr=0.002",
        "train.schedule=null",
        f"train.epochs={args.epochs}",
    ]
    cfg = load_config(None, overrides).model_copy()
    cfg.model = cfg.model.model_copy(update={"name": None, "layers": SMALL_CNN})
    data = prepare_data(cfg.data, seed=args.seed)
    train = data.splits["train"]
    clean = train.y.numpy()
    noisy, flipped = flip_labels(clean, args.noise, data.num_classes, args.seed)
    train.y = torch.from_numpy(noisy)
    start = time.perf_counter()
    res = find_label_issues(cfg, data, folds=args.folds, epochs=args.epochs, seed=args.seed, top=len(train))
    seconds = time.perf_counter() - start
    rank_rows = np.array([np.flatnonzero(train.index == r["index"])[0] for r in res.rows])
    flagged = rank_rows[: res.flagged]
    p_f, r_f = precision_recall(flagged, flipped)
    p_k, r_k = precision_recall(rank_rows[: len(flipped)], flipped)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"MNIST subset: {len(train)} training examples, {len(flipped)} labels flipped ({100 * args.noise:g}%)"
    )
    print(
        f"settings: {args.folds} folds x {args.epochs} epochs, small CNN ({sum(1 for _ in SMALL_CNN)} layers)"
    )
    print(f"flagged by confident learning: {res.flagged}: precision {p_f:.3f}, recall {r_f:.3f}")
    print(f"top-{len(flipped)} suspects: precision {p_k:.3f}, recall {r_k:.3f}")
    # The deepest cutoff of the ranking where precision is still >= 0.5, and the recall there.
    hits = np.cumsum(np.isin(rank_rows, flipped))
    prec = hits / np.arange(1, len(rank_rows) + 1)
    ok = np.flatnonzero(prec >= 0.5)
    if len(ok):
        n = int(ok[-1]) + 1
        print(
            f"deepest cutoff with precision >= 0.5: top-{n}: precision {prec[n - 1]:.3f}, "
            f"recall {hits[n - 1] / len(flipped):.3f}"
        )
    for mult in (1.5, 2.0):
        n = int(mult * len(flipped))
        print(
            f"top-{n} suspects ({mult:g}x flipped): precision {hits[n - 1] / n:.3f}, "
            f"recall {hits[n - 1] / len(flipped):.3f}"
        )
    print(f"time: {seconds:.1f} s")
    if args.retrain:
        retrain(cfg, res.rows[: res.flagged], noisy, train.index, args.seed)


def retrain(cfg, suspects, noisy, index, seed) -> None:  # type: ignore[no-untyped-def]
    """Train on the noisy labels, then with the suspects excluded; print both dev accuracies."""
    from knobwise.run import train_experiment

    with tempfile.TemporaryDirectory() as tmp:
        relabel = Path(tmp) / "noisy.csv"
        write_csv(relabel, [{"index": int(i), "label": int(v)} for i, v in zip(index, noisy, strict=True)])
        exclude = Path(tmp) / "suspects.csv"
        write_csv(exclude, [{"index": r["index"]} for r in suspects])
        for name, extra in (("noisy", {}), ("cleaned", {"exclude": str(exclude)})):
            c = cfg.model_copy(
                update={"data": cfg.data.model_copy(update={"relabel": str(relabel), **extra})}
            )
            res = train_experiment(c, Path(tmp) / name, quiet=True)
            n, acc = res.metrics["train"]["n"], res.metrics["dev"]["accuracy"]
            print(f"{name}: train {n} examples, dev accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
