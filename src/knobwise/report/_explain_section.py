"""The run report's section "What the network looks at".

A few dev examples, the most confident mistakes first and then the least confident predictions,
with a cheap attribution method (Grad-CAM on the last convolutional layer; saliency for a model
without one) overlaid; the border-strip hint; and the surroundings verdict of the last
``knobwise explain --boxes/--masks`` of the run when there is one (``explain/surroundings.json``).
Kept small so the report stays fast: :data:`REPORT_EXAMPLES` examples, one method.

Example:
    >>> import numpy as np
    >>> proba = np.array([[.9, .1], [.6, .4], [.3, .7], [.2, .8]])
    >>> report_positions(np.array([0, 1, 1, 0]), proba, 3).tolist()
    [3, 1, 2]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.diagnose import explain_images, has_conv_layer, select_examples
from knobwise.report._explain_plots import explanation_grid
from knobwise.report._sections import Section, Table, fmt
from knobwise.run import BaseRun

__all__ = ["REPORT_EXAMPLES", "explain_section", "report_positions", "SURROUNDINGS_FILE"]

#: Examples in the report's grid: one row of eight.
REPORT_EXAMPLES = 8
#: Where ``knobwise explain --boxes/--masks`` leaves its verdict for the report and ``diagnose``.
SURROUNDINGS_FILE = Path("explain") / "surroundings.json"


def report_positions(true: np.ndarray, proba: np.ndarray, n: int = REPORT_EXAMPLES) -> np.ndarray:
    """Half of ``n`` from the mistakes (most confident first), the rest the least confident
    predictions not yet chosen."""
    wrong = select_examples(true, proba, "misclassified", max(1, n // 2), []) if n > 1 else np.zeros(0)
    chosen = [int(i) for i in wrong]
    for i in select_examples(true, proba, "lowest", n, []):
        if len(chosen) >= n:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return np.asarray(chosen[:n], dtype=np.int64)


def _surroundings(root: Path, s: Section) -> None:
    path = root / SURROUNDINGS_FILE
    if not path.is_file():
        return
    try:
        v = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        s.note(f"{SURROUNDINGS_FILE} could not be read ({exc})")
        return
    if v.get("warning"):
        s.note(f"surroundings warning: {v['warning']}")
    s.add_items(
        [
            ("object boxes/masks", v.get("source")),
            ("attribution mass inside the objects (mean)", v.get("mean_inside")),
            ("object area (mean share of the image)", v.get("object_area")),
        ]
    )
    rows = [
        [str(c.get("class")), fmt(c.get("examples")), fmt(c.get("mean_inside"))]
        for c in v.get("per_class", [])
    ]
    if rows:
        s.tables.append(
            Table(["class", "examples", "mass inside the object"], rows, "Surroundings check per class")
        )


def explain_section(run: BaseRun, data: Any, preds: dict[str, Any] | None = None) -> Section:
    """The section; a missing piece (data, model, captum) becomes a note, never a failure.
    ``preds`` (split -> predictions with ``proba`` and ``index``, as the report already has them)
    saves a pass of the model over the split."""
    s = Section("explain", "What the network looks at")
    try:
        _fill(run, data, s, preds or {})
    except Exception as exc:  # the report shows what it can
        s.note(f"no attribution maps ({type(exc).__name__}: {exc})".splitlines()[0])
    _surroundings(run.root, s)
    return s


def _split_proba(model: Any, sp: Any, saved: Any) -> np.ndarray:
    """The split's class probabilities: the saved ones when they are for the same examples in the
    same order, else from the model."""
    if saved is not None and np.array_equal(np.asarray(saved.index), np.asarray(sp.index)):
        proba = np.asarray(saved.proba)
        if proba.ndim == 2 and len(proba) == len(sp):
            return proba
    model.eval()
    with torch.no_grad():
        out = [torch.softmax(model(sp.x[i : i + 512]).float(), 1).cpu() for i in range(0, len(sp), 512)]
    return torch.cat(out).numpy()


def _fill(run: BaseRun, data: Any, s: Section, preds: dict[str, Any]) -> None:
    split = next((k for k in ("dev", "test") if data is not None and len(data.splits.get(k, ()))), None)
    if split is None:
        s.note("no attribution maps: no dev or test images for this run")
        return
    model = run.model
    started = time.perf_counter()
    sp = data.splits[split]
    true = sp.y.cpu().numpy()
    pos = report_positions(true, _split_proba(model, sp, preds.get(split)))
    method = "gradcam" if has_conv_layer(model) else "saliency"
    ids = [str(sp.ids[i]) if sp.ids is not None else f"#{int(sp.index[i])}" for i in pos]
    ex = explain_images(
        model,
        sp.x[torch.as_tensor(pos, device=sp.x.device)],
        classes=list(data.classes),
        true=true[pos],
        method=method,
        normalizer=data.normalizer,
        ids=ids,
    )
    seconds = time.perf_counter() - started
    s.figures.append(explanation_grid(ex, name=f"explain_{split}"))
    wrong = int((ex.pred != ex.true).sum())
    s.paragraphs.append(
        f"{len(ex)} {split} examples ({wrong} misclassified, most confident first, then the least "
        f"confident predictions), {method}{f' on layer {ex.layer}' if ex.layer else ''} for the "
        f"predicted class ({seconds:.2f} s). Bright regions carry the evidence; evidence on the "
        "background rather than the object is a warning sign. More: knobwise explain RUN --help."
    )
    hint = ex.surroundings
    s.add_items(
        [
            ("attribution mass in the border strip (mean)", hint.get("mean_border")),
            (f"border strip ({hint.get('border_px')} px) share of the image", hint.get("border_area")),
        ]
    )
    if hint.get("hint"):
        s.note(f"border hint: {hint['hint']}")
