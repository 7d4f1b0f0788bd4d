"""Explaining a run directory: its model, its data rebuilt from its config, its predictions.

:func:`load_for_explain` is the one place that reads a run for ``explain``; the rest works on
plain objects.

Example (a finished run)::

    model, data, proba = load_for_explain("runs/20250101-digits", "dev")
    explain_run("runs/20250101-digits", which="lowest", n=8, method="saliency").to_dict()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.diagnose._attributions import has_conv_layer
from knobwise.diagnose._explain import Explanation, explain_images, explain_split, objects_for, split_ids
from knobwise.diagnose._surroundings import read_boxes
from knobwise.errors import DataError
from knobwise.io import read_json
from knobwise.metrics import load_predictions
from knobwise.run import BaseRun, as_run

__all__ = ["load_for_explain", "explain_run", "surroundings_check"]


def load_for_explain(
    run: BaseRun | str | Path, split: str | None = None
) -> tuple[torch.nn.Module, Any, np.ndarray | None]:
    """The trained model of ``run``, its data (the split it was trained and evaluated on) and the
    saved class probabilities of ``split`` when ``predictions.npz`` has them."""
    run = as_run(run)
    proba = None
    if split is not None and run.paths.predictions.is_file():
        saved = load_predictions(run.paths.predictions).get(split)
        if saved is not None:
            proba = np.asarray(saved.proba)
    return run.model, run.data, proba


def explain_run(run: BaseRun | str | Path, split: str = "dev", **kwargs: Any) -> Explanation:
    """:func:`~knobwise.diagnose.explain_split` on a run's model and data."""
    model, data, proba = load_for_explain(as_run(run), split)
    return explain_split(model, data, split, proba=proba, **kwargs)


def surroundings_check(
    run: BaseRun | str | Path,
    boxes: str | Path | None = None,
    masks: str | Path | None = None,
    split: str = "dev",
    n: int = 64,
) -> dict[str, Any] | None:
    """The surroundings verdict of a run for ``diagnose``: computed on up to ``n`` examples of
    ``split`` that have a box or mask (the first by position) when ``boxes`` or ``masks`` is
    given, else the one ``knobwise explain --boxes/--masks`` saved (``RUN/explain/surroundings.json``),
    else None. Grad-CAM for a convolutional model, saliency otherwise."""
    run = as_run(run)
    if boxes is None and masks is None:
        saved = run.root / "explain" / "surroundings.json"
        return read_json(saved) if saved.is_file() else None
    model, data, _ = load_for_explain(run, split)
    s = data.splits[split]
    h, w = s.x.shape[-2:]
    ids = split_ids(s)
    if boxes is not None:
        have = set(read_boxes(boxes, h, w))
    else:
        have = {i for i in ids if (Path(masks) / i).is_file() or (Path(masks) / f"{i}.png").is_file()}  # type: ignore[arg-type]
    pos = [i for i, name in enumerate(ids) if name in have][:n]
    if not pos:
        src = f"--boxes {boxes}" if boxes is not None else f"--masks {masks}"
        raise DataError(
            f"{src}: no object for any {split} example (ids look like {ids[0] if ids else 'none'})"
        )
    chosen = [ids[i] for i in pos]
    ex = explain_images(
        model,
        s.x[torch.as_tensor(pos)],
        classes=list(data.classes),
        true=s.y.numpy()[pos],
        method="gradcam" if has_conv_layer(model) else "saliency",
        normalizer=data.normalizer,
        ids=chosen,
        objects=objects_for(chosen, h, w, boxes, masks),
    )
    return {**ex.surroundings, "source": str(boxes or masks), "method": ex.method, "split": split}
