"""Classify new images with a trained model: class, probability and top-k, as rows, JSON or CSV.

Inputs go through :func:`~knobwise.run._inputs.load_inputs` (the training decoder, checked against
the model's ``input_shape``) and through the training normalization; the probabilities are the
softmax of the logits in float32, computed in batches on the model's device, exactly as the run's
``predictions.npz`` was written: with ``tta`` (the run's ``evaluate.tta``) the probabilities are
averaged over the same views (flips, shifts) that evaluation used.

Example:
    >>> import numpy as np, torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> meta = {"classes": ["cat", "dog"], "input_shape": [1, 2, 2],
    ...         "data": {"normalizer": {"mode": "none", "shift": [0.0], "scale": [1.0]}}}
    >>> p = predict(model, meta, np.zeros((3, 2, 2), dtype=np.uint8), top=2)
    >>> len(p), p.proba.shape, len(p.topk(2)[0])
    (3, (3, 2), 2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import TTAConfig
from knobwise.data import predict_tta, tabular_inputs
from knobwise.errors import ConfigError, DataError, RunError
from knobwise.io import to_json, write_csv
from knobwise.run._inputs import InputBatch, Inputs, load_inputs
from knobwise.run._normalized import NormalizedModel, model_device, normalizer_of

__all__ = ["Prediction", "check_top", "predict"]


@dataclass(frozen=True, eq=False)  # numpy fields: no element-wise ==
class Prediction:
    """Per-image outputs of :func:`predict`.

    Attributes:
        ids: one id per image (the file path, ``file.npz[i]``, or the array row ``"i"``).
        proba: float32 ``(N, K)`` class probabilities.
        class_names: the model's K class names (``model.json``'s ``classes``).
        top: how many classes :meth:`to_rows`, :meth:`to_json` and :meth:`write_csv` list.
        chosen: the predicted class of each image when it is not the most probable one (an
            ensemble's plurality vote); None: the argmax of ``proba``.
    """

    ids: list[str]
    proba: np.ndarray
    class_names: list[str]
    top: int = 1
    chosen: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def pred(self) -> np.ndarray:
        """int64 index of the predicted class of each image."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.chosen is not None:
            return np.asarray(self.chosen, dtype=np.int64)
        return self.proba.argmax(axis=1).astype(np.int64)

    @property
    def classes(self) -> list[str]:
        """The predicted class name of each image."""
        return [self.class_names[i] for i in self.pred]

    @property
    def top1(self) -> np.ndarray:
        """The probability of the predicted class of each image."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.proba[np.arange(len(self)), self.pred]

    def topk(self, k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable ``(class, probability)`` pairs of each image, best first."""
        k = check_top(k, len(self.class_names), "topk k")
        # A stable sort: ties keep the class order, as argmax does; a voted class ranks first.
        score = -self.proba
        if self.chosen is not None and len(self):
            score = score.copy()
            score[np.arange(len(self)), self.pred] = -np.inf
        order = np.argsort(score, axis=1, kind="stable")[:, :k]
        return [
            [(self.class_names[j], float(row[j])) for j in idx]
            for row, idx in zip(self.proba, order, strict=True)
        ]

    def to_rows(self, top: int | None = None) -> list[dict[str, Any]]:
        """One flat dict per image: ``id``, ``class``, ``probability`` and, for ``top`` > 1,
        ``class_2``, ``probability_2``, ... (ready for CSV)."""
        rows = []
        for ident, ranked in zip(self.ids, self.topk(top or self.top), strict=True):
            row: dict[str, Any] = {"id": ident, "class": ranked[0][0], "probability": ranked[0][1]}
            for r, (name, p) in enumerate(ranked[1:], start=2):
                row[f"class_{r}"] = name
                row[f"probability_{r}"] = p
            rows.append(row)
        return rows

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """``{"classes": [...], "predictions": [{"id", "class", "probability", "top": [...]}]}``."""
        preds = [
            {
                "id": ident,
                "class": ranked[0][0],
                "probability": ranked[0][1],
                "top": [{"class": name, "probability": p} for name, p in ranked],
            }
            for ident, ranked in zip(self.ids, self.topk(top or self.top), strict=True)
        ]
        return {"classes": list(self.class_names), "predictions": preds}

    def to_json(self, top: int | None = None) -> str:
        """:meth:`to_dict` as indented, strict JSON."""
        return to_json(self.to_dict(top))

    def write_csv(self, path: str | Path, top: int | None = None) -> None:
        """:meth:`to_rows` as a CSV file, written atomically."""
        write_csv(path, self.to_rows(top))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{i}: {c} {p:.3f}" for i, c, p in zip(self.ids[:3], self.classes[:3], self.top1[:3], strict=True)
        )
        more = ", ..." if len(self) > 3 else ""
        return f"Prediction({len(self)} images, {len(self.class_names)} classes; {shown}{more})"


def check_top(k: int, num_classes: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= num_classes:
        raise ConfigError(
            f"{what} must be an integer from 1 to {num_classes} (the number of classes), got {k!r}"
        )
    return int(k)


def _classes(meta: dict[str, Any]) -> tuple[list[str], list[int]]:
    try:
        return [str(c) for c in meta["classes"]], [int(v) for v in meta["input_shape"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"model.json lacks classes or input_shape ({exc})") from exc


def _records(inputs: Any, data_meta: dict[str, Any]) -> InputBatch:
    """A tabular run's inputs: CSV/parquet files (ids ``file:row``) or records given directly."""
    files = [inputs] if isinstance(inputs, str | os.PathLike) else inputs
    if isinstance(files, list | tuple) and files and all(isinstance(f, str | os.PathLike) for f in files):
        parts = [(str(f), tabular_inputs(f, data_meta)) for f in files]
        ids = [f"{name}:{i}" for name, x in parts for i in range(len(x))]
        return InputBatch(x=torch.cat([x for _, x in parts]), ids=ids)
    if isinstance(inputs, list | tuple | dict):
        x = tabular_inputs(inputs, data_meta)
        return InputBatch(x=x, ids=[str(i) for i in range(len(x))])
    raise DataError("predict: a run on attributes takes CSV/parquet files or records ({column: value} rows)")


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    meta: dict[str, Any],
    inputs: Inputs,
    *,
    top: int = 1,
    device: str | torch.device | None = None,
    batch_size: int = 256,
    resize: bool = False,
    tta: TTAConfig | None = None,
) -> Prediction:
    """Class probabilities of ``inputs`` under a trained ``model`` and its ``model.json`` ``meta``.

    ``inputs``: image files, folders, ``.npz`` files, or a numpy array / torch tensor (rules in
    :mod:`knobwise.run._inputs`); for a run on attributes (tabular), a CSV/parquet file or a list of
    ``{column: value}`` records with the training columns (excluded ones may be present).
    ``device``: where to compute (the model is moved there); by default the model's own device.
    ``top``: the classes listed per image by the result's rows.
    ``resize``: resize image files to the model's size instead of refusing other sizes.
    ``tta``: test-time augmentation (a run's ``evaluate.tta``): the mean probability over the
    views of each normalized image, as evaluation computes it; images only.
    Bad input raises :class:`~knobwise.errors.DataError` (one line naming the file).
    """
    class_names, input_shape = _classes(meta)
    top = check_top(top, len(class_names), "top")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    data_meta = meta.get("data") or {}
    if data_meta.get("tabular"):  # records: the fitted attribute encoding includes the normalization
        if tta is not None:
            raise ConfigError("evaluate.tta applies to images; this run was trained on tabular data")
        batch = _records(inputs, data_meta)
        normalize: torch.nn.Module = torch.nn.Identity()
    else:
        normalizer = normalizer_of(meta)
        # pixel_max 1: trained on float arrays used as given, so float inputs are not held to [0, 1].
        batch = load_inputs(inputs, input_shape, resize=resize, unit_range=normalizer.pixel_max != 1.0)
        normalize = NormalizedModel(torch.nn.Identity(), normalizer)
    if device is not None:
        model.to(torch.device(device))
    on = model_device(model)
    normalize.to(on)
    was_training = model.training
    model.eval()
    try:
        parts = []
        for i in range(0, len(batch), batch_size):
            x = normalize(batch.x[i : i + batch_size].to(on))
            if tta is None:
                p = torch.softmax(model(x).float(), 1)
            else:  # log of the view-averaged probabilities, as evaluation computes them
                p = torch.softmax(predict_tta(model, x, tta, normalizer), 1)
            parts.append(p.cpu())
    finally:
        model.train(was_training)
    proba = torch.cat(parts).numpy() if parts else np.zeros((0, len(class_names)), dtype=np.float32)
    return Prediction(ids=batch.ids, proba=proba, class_names=class_names, top=top)
