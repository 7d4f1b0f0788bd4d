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

from knobwise.diagnose._explain import Explanation, explain_split

__all__ = ["load_for_explain", "explain_run", "surroundings_check"]


def load_for_explain(
    run_dir: str | Path, split: str | None = None
) -> tuple[torch.nn.Module, Any, np.ndarray | None]:
    """The trained model of ``run_dir``, its prepared data (the split it was trained and evaluated
    on: ``prepare_data`` is deterministic in the config and seed) and the saved class
    probabilities of ``split`` when ``predictions.npz`` has them."""
    from knobwise.data import prepare_data
    from knobwise.diagnose._run import load_run_config
    from knobwise.experiment import load_trained
    from knobwise.metrics import load_predictions
    from knobwise.runs import open_run

    run = open_run(run_dir)
    model, _ = load_trained(run.root)
    cfg, _ = load_run_config(run)
    data = prepare_data(cfg.data, seed=cfg.seed, device="cpu", withhold=() if split == "test" else ("test",))
    proba = None
    if split is not None and run.predictions.is_file():
        saved = load_predictions(run.predictions).get(split)
        if saved is not None:
            proba = np.asarray(saved.proba)
    return model, data, proba


def explain_run(run_dir: str | Path, split: str = "dev", **kwargs: Any) -> Explanation:
    """:func:`~knobwise.diagnose.explain_split` on a run directory's model and data."""
    model, data, proba = load_for_explain(run_dir, split)
    return explain_split(model, data, split, proba=proba, **kwargs)


def surroundings_check(
    run_dir: str | Path,
    boxes: str | Path | None = None,
    masks: str | Path | None = None,
    split: str = "dev",
    n: int = 64,
) -> dict[str, Any] | None:
    """The surroundings verdict of a run for ``diagnose``: computed on up to ``n`` examples of
    ``split`` that have a box or mask (the first by position) when ``boxes`` or ``masks`` is
    given, else the one ``knobwise explain --boxes/--masks`` saved (``RUN/explain/surroundings.json``),
    else None. Grad-CAM for a convolutional model, saliency otherwise."""
    from knobwise.diagnose._attributions import has_conv_layer
    from knobwise.diagnose._explain import explain_images, objects_for, split_ids
    from knobwise.diagnose._surroundings import read_boxes
    from knobwise.runs import open_run, read_json

    run = open_run(run_dir)
    if boxes is None and masks is None:
        saved = run.root / "explain" / "surroundings.json"
        return read_json(saved) if saved.is_file() else None
    model, data, _ = load_for_explain(run.root, split)
    s = data.splits[split]
    h, w = s.x.shape[-2:]
    ids = split_ids(s)
    if boxes is not None:
        have = set(read_boxes(boxes, h, w))
    else:
        have = {i for i in ids if (Path(masks) / i).is_file() or (Path(masks) / f"{i}.png").is_file()}  # type: ignore[arg-type]
    pos = [i for i, name in enumerate(ids) if name in have][:n]
    if not pos:
        from knobwise.errors import DataError

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
