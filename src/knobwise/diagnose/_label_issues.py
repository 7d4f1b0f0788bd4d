"""Suspected mislabeled training examples, from out-of-sample probabilities (confident learning).

1. Out-of-sample probabilities: the training split is cut into ``folds`` stratified folds; for each
   fold a fresh model of the run's architecture is trained (cheaply: few epochs) on the other
   folds with :class:`knobwise.train.Trainer` and predicts the held-out fold. No example is ever
   judged by a model that saw its label.
2. Per-class thresholds: ``t_j`` = the mean probability of class ``j`` over the examples labeled
   ``j`` (how confident the models are about that class when the label is right, mostly).
3. An example is *flagged* when some other class ``j`` reaches its threshold ``t_j`` and has the
   highest probability among the classes that do (an off-diagonal entry of the confident joint).
4. Ranking: flagged examples first, each group by the normalized margin
   ``max_{j != y} p_j - p_y`` (higher = more likely wrong), which is robust to the class's overall
   confidence.

Optionally a cluster check: k-means in the penultimate-layer feature space of the run's model; a
label that disagrees with its cluster's majority label is marked, the majority label is written
(``cluster_majority``) and such examples are listed even when not flagged, so
``data.relabel_to: cluster_majority`` can relabel them.

Example:
    >>> import numpy as np
    >>> proba = np.array([[.9, .1], [.8, .2], [.2, .8], [.95, .05]])
    >>> flagged, score, suggested = confident_learning(proba, np.array([0, 0, 1, 1]))
    >>> flagged.tolist(), suggested.tolist()
    ([False, False, False, True], [0, 0, 1, 0])
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import ExperimentConfig
from knobwise.data import PreparedData, SplitData
from knobwise.errors import ConfigError
from knobwise.io import write_csv
from knobwise.models import build_from_layers, resolve_layers
from knobwise.train import Trainer, predict_logits

__all__ = [
    "LabelIssues",
    "confident_learning",
    "out_of_fold_proba",
    "cluster_disagreement",
    "cluster_majority",
    "find_label_issues",
]


@dataclass
class LabelIssues:
    """Ranked suspects (``rows``), the out-of-sample probabilities and how long it took."""

    rows: list[dict[str, Any]]
    proba: np.ndarray
    flagged: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def write_csv(self, path: str | Path) -> None:
        """The suspects as CSV (rank, index, id, label, suggested, scores, flags)."""
        write_csv(
            path,
            self.rows,
            fields=[
                "rank",
                "index",
                "id",
                "label",
                "suggested",
                "score",
                "self_confidence",
                "flagged",
                "cluster_disagrees",
                "cluster_majority",
            ],
        )


def confident_learning(proba: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flagged mask, score = max other probability − given-label probability, suggested class)."""
    n, k = proba.shape
    thresholds = np.array([proba[labels == j, j].mean() if (labels == j).any() else 1.0 for j in range(k)])
    above = proba >= thresholds[None, :]
    masked = np.where(above, proba, -1.0)
    assigned = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    flagged = (assigned >= 0) & (assigned != labels)
    given = proba[np.arange(n), labels]
    others = proba.copy()
    others[np.arange(n), labels] = -1.0
    suggested = np.where(flagged, assigned, labels)
    return flagged, others.max(axis=1) - given, suggested


def _subset(split: SplitData, rows: np.ndarray) -> SplitData:
    t = torch.as_tensor(rows, device=split.x.device)
    return SplitData(x=split.x[t], y=split.y[t], index=split.index[rows])


def out_of_fold_proba(
    cfg: ExperimentConfig, data: PreparedData, *, folds: int = 4, epochs: int = 3, seed: int = 0
) -> np.ndarray:
    """Probabilities (N, K) for every training example from models that never saw it."""
    # lazy: scikit-learn loads only for this check
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {folds}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    train = data.splits["train"]
    y = train.y.cpu().numpy()
    counts = np.bincount(y, minlength=data.num_classes)
    n_splits = min(folds, int(counts[counts > 0].min()))
    if n_splits < 2:
        raise ConfigError("label issues need at least 2 training examples of every class present")
    tcfg = cfg.train.model_copy(update={"epochs": epochs, "early_stopping": None, "grad_stats": False})
    layers = resolve_layers(cfg.model, data.num_classes)
    proba = np.zeros((len(train), data.num_classes), dtype=np.float32)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fold, (fit_rows, held_rows) in enumerate(skf.split(np.zeros(len(y)), y)):
        part = dataclasses.replace(data, splits={"train": _subset(train, fit_rows)})
        torch.manual_seed(seed + fold)
        model = build_from_layers(layers, data.input_shape, cfg.model.init)
        Trainer(model, part, tcfg, seed=seed + fold, quiet=True).fit()
        held = torch.as_tensor(held_rows, device=train.x.device)
        proba[held_rows] = torch.softmax(predict_logits(model, train.x[held]), 1).cpu().numpy()
    return proba


def cluster_majority(features: np.ndarray, labels: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """The majority label of each example's k-means cluster (features: one row per example).

    >>> f = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> cluster_majority(f, np.array([0, 0, 1, 1, 1, 1]), 2).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    # lazy: scikit-learn's clustering loads only for the cluster check
    from sklearn.cluster import KMeans

    k = max(1, min(n_clusters, len(features)))
    assign = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(features)
    majority = np.zeros(k, dtype=np.int64)
    for c in range(k):
        members = labels[assign == c]
        majority[c] = np.bincount(members).argmax() if len(members) else -1
    return majority[assign]


def cluster_disagreement(
    features: np.ndarray, labels: np.ndarray, n_clusters: int, seed: int = 0
) -> np.ndarray:
    """Whether each label differs from the majority label of its k-means cluster.

    >>> f = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> cluster_disagreement(f, np.array([0, 0, 1, 1, 1, 1]), 2).tolist()
    [False, False, True, False, False, False]
    """
    return cluster_majority(features, labels, n_clusters, seed) != labels


def _penultimate(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    body = torch.nn.Sequential(*list(model.children())[:-1])  # everything but the output layer
    return predict_logits(body, x).reshape(x.shape[0], -1).cpu().numpy()


def find_label_issues(
    cfg: ExperimentConfig,
    data: PreparedData,
    *,
    folds: int = 4,
    epochs: int = 3,
    seed: int = 0,
    model: torch.nn.Module | None = None,
    clusters: int | None = None,
    top: int | None = None,
) -> LabelIssues:
    """Rank the training examples of ``data`` by how likely their label is wrong.

    With ``model`` (the run's trained model) and ``clusters``, the cluster check runs too. ``top``
    limits the rows to the flagged examples plus the next most suspicious up to ``top`` in all.
    """
    start = time.perf_counter()
    train = data.splits["train"]
    labels = train.y.cpu().numpy()
    proba = out_of_fold_proba(cfg, data, folds=folds, epochs=epochs, seed=seed)
    flagged, score, suggested = confident_learning(proba, labels)
    disagree = majority = None
    if model is not None and clusters:
        majority = cluster_majority(_penultimate(model, train.x), labels, clusters, seed)
        disagree = majority != labels
    order = np.lexsort((-score, ~flagged))
    # Flagged first, then (with clusters) every cluster disagreement, then the next most
    # suspicious up to ``top`` rows in all.
    listed = flagged if disagree is None else flagged | disagree
    chosen = [int(r) for r in order if listed[r]]
    rest = [int(r) for r in order if not listed[r]]
    chosen += rest[: max(0, (top or 0) - len(chosen))]
    rows = []
    for rank, r in enumerate(chosen, start=1):
        rows.append(
            {
                "rank": rank,
                "index": int(train.index[r]),
                "id": None if train.ids is None else str(train.ids[r]),
                "label": data.classes[int(labels[r])],
                "suggested": data.classes[int(suggested[r] if flagged[r] else proba[r].argmax())],
                "score": round(float(score[r]), 6),
                "self_confidence": round(float(proba[r, labels[r]]), 6),
                "flagged": bool(flagged[r]),
                "cluster_disagrees": None if disagree is None else bool(disagree[r]),
                "cluster_majority": None if majority is None else data.classes[int(majority[r])],
            }
        )
    settings = {"folds": folds, "epochs": epochs, "seed": seed, "clusters": clusters}
    return LabelIssues(rows, proba, int(flagged.sum()), time.perf_counter() - start, settings)
