"""What the network looks at: chosen examples, their attribution maps, and the surroundings check.

:func:`select_examples` picks examples of a split deterministically (misclassified, lowest
confidence, most confident, one class); :func:`explain_images` computes attribution maps for
a batch of model inputs (for the predicted class, the true class, or both, so a reader sees why
the wrong class won) and measures how much of each map lies inside the object boxes or masks,
else in the border strip; :func:`explain_split` does both on a split of a prepared dataset. The
result, :class:`Explanation`, is plain data: ``to_dict()`` is the ``--json`` output, the report
draws its figures.

Example:
    >>> import numpy as np, torch
    >>> from knobwise.models import build_from_layers
    >>> model = build_from_layers([{"conv2d": {"filters": 4, "kernel_size": 3}}, "flatten",
    ...                            {"dense": {"units": 2}}], (1, 8, 8))
    >>> ex = explain_images(model, torch.randn(3, 1, 8, 8), classes=["a", "b"], true=np.array([0, 1, 1]))
    >>> ex.maps.shape, ex.to_dict()["examples"][0]["attributions"][0]["method"]
    ((3, 1, 8, 8), 'gradcam')
    >>> proba = np.array([[.9, .1], [.8, .2], [.3, .7]])
    >>> select_examples(np.array([0, 1, 1]), proba, "lowest", 2, ["a", "b"]).tolist()
    [2, 1]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from knobwise.diagnose._attributions import METHODS, attribute, conv_layer
from knobwise.diagnose._surroundings import (
    border_hint,
    border_mask,
    box_mask,
    mass_inside,
    read_boxes,
    read_masks,
    surroundings_verdict,
)
from knobwise.errors import ConfigError, DataError
from knobwise.registry import closest

__all__ = [
    "WHICH",
    "TARGETS",
    "Explanation",
    "select_examples",
    "explain_images",
    "explain_split",
    "load_image_files",
    "black_baseline",
    "to_pixels",
    "objects_for",
]

#: How examples are chosen (``--which``); ``class:NAME`` picks one true class.
WHICH = ("misclassified", "lowest", "confident", "class:NAME")
#: Which class each map explains (``--target``).
TARGETS = ("pred", "true", "both")


def _class_index(name: str, classes: list[str]) -> int:
    if name in classes:
        return classes.index(name)
    near = closest(name, classes)
    hint = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
    raise ConfigError(f"--which class:{name}: no such class{hint} (classes: {', '.join(classes)})")


def select_examples(
    true: np.ndarray, proba: np.ndarray, which: str, n: int, classes: list[str]
) -> np.ndarray:
    """Positions of up to ``n`` examples, deterministic (stable sorts, ties by position):

    ``misclassified``: wrong predictions, most confident first; ``lowest``: the lowest top-1
    probability first, right or wrong; ``confident``: the highest top-1 probability first;
    ``class:NAME``: examples whose true class is NAME, the least confident first.
    """
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    true = np.asarray(true)
    proba = np.asarray(proba)
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    if which == "misclassified":
        wrong = np.flatnonzero(pred != true)
        order = wrong[np.argsort(-conf[wrong], kind="stable")]
    elif which == "lowest":
        order = np.argsort(conf, kind="stable")
    elif which == "confident":
        order = np.argsort(-conf, kind="stable")
    elif which.startswith("class:"):
        members = np.flatnonzero(true == _class_index(which[len("class:") :], classes))
        order = members[np.argsort(conf[members], kind="stable")]
    else:
        raise ConfigError(f"--which must be one of {', '.join(WHICH)}, got {which!r}")
    return order[:n].astype(np.int64)


def to_pixels(x: torch.Tensor, normalizer: Any = None) -> np.ndarray:
    """Model inputs back to displayable ``[0, 1]`` pixels (the normalizer undone, else each image
    min-max scaled)."""
    a = x.detach().float().cpu().numpy()
    if a.size == 0:
        return a
    shift, scale = getattr(normalizer, "shift", None), getattr(normalizer, "scale", None)
    if shift is not None and scale is not None and len(shift) == a.shape[1]:
        return np.clip(
            a * np.asarray(scale)[None, :, None, None] + np.asarray(shift)[None, :, None, None], 0, 1
        )
    lo = a.min(axis=(1, 2, 3), keepdims=True)
    span = a.max(axis=(1, 2, 3), keepdims=True) - lo
    return (a - lo) / np.where(span > 0, span, 1.0)


def black_baseline(shape: tuple[int, ...], normalizer: Any = None) -> torch.Tensor:
    """A black image ``(1, C, H, W)`` in model-input units: the integrated-gradients baseline and
    the occlusion fill (zeros when there is no normalizer)."""
    c, h, w = shape[-3:]
    base = torch.zeros(1, c, h, w)
    shift, scale = getattr(normalizer, "shift", None), getattr(normalizer, "scale", None)
    if shift is not None and scale is not None and len(shift) == c:
        base += (-torch.tensor(shift, dtype=torch.float32) / torch.tensor(scale, dtype=torch.float32)).view(
            1, c, 1, 1
        )
    return base


def load_image_files(
    paths: list[str | Path], input_shape: tuple[int, int, int], normalizer: Any = None
) -> torch.Tensor:
    """Image files as model inputs ``(N, C, H, W)``: converted to the model's channels (gray or
    RGB), resized to its input size, scaled to ``[0, 1]`` and normalized like its training data."""
    # lazy: Pillow loads only when image files are explained
    from PIL import Image, UnidentifiedImageError

    c, h, w = input_shape
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise DataError(f"--files {path}: no such file")
        try:
            with Image.open(path) as img:
                small = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(small, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"--files {path}: not a readable image ({exc})") from exc
        out.append(arr[None] if c == 1 else arr.transpose(2, 0, 1))
    x = torch.from_numpy(np.stack(out)) if out else torch.zeros(0, c, h, w)
    shift, scale = getattr(normalizer, "shift", None), getattr(normalizer, "scale", None)
    if shift is not None and scale is not None:
        x = (x - torch.tensor(shift).view(1, c, 1, 1)) / torch.tensor(scale).view(1, c, 1, 1)
    return x.float()


def objects_for(
    ids: list[str], h: int, w: int, boxes: str | Path | None = None, masks: str | Path | None = None
) -> np.ndarray | None:
    """Object masks ``(N, h, w)`` for the examples ``ids`` from a boxes CSV or a masks folder;
    None when neither is given. An example without a box is a :class:`DataError` naming it."""
    if boxes is None and masks is None:
        return None
    if boxes is not None and masks is not None:
        raise ConfigError("give either --boxes or --masks, not both")
    found: dict[str, np.ndarray]
    if boxes is not None:
        found = {k: box_mask(b, h, w) for k, b in read_boxes(boxes, h, w).items()}
    else:
        found = read_masks(masks, ids, h, w)  # type: ignore[arg-type]
    missing = [i for i in ids if i not in found]
    if missing:
        src = f"--boxes {boxes}" if boxes is not None else f"--masks {masks}"
        raise DataError(
            f"{src}: no object for {len(missing)} of the {len(ids)} explained examples "
            f"(first: {', '.join(missing[:3])}); ids must match the examples' ids"
        )
    return np.stack([found[i] for i in ids]) if ids else np.zeros((0, h, w), dtype=bool)


@dataclass
class Explanation:
    """Attribution maps of some examples, with what is needed to show and judge them.

    ``maps`` is ``(N, T, H, W)``: T = 1 (the predicted or the true class) or 2 (``both``:
    predicted, then true); ``targets`` ``(N, T)`` the explained class per map; ``true`` is -1
    where unknown (image files); ``inside`` ``(N, T)`` the share of each map's mass inside the
    object (NaN without objects); ``border`` ``(N, T)`` the share in the border strip.
    """

    method: str
    target: str
    classes: list[str]
    images: np.ndarray
    maps: np.ndarray
    targets: np.ndarray
    true: np.ndarray
    proba: np.ndarray
    ids: list[str]
    inside: np.ndarray
    border: np.ndarray
    layer: str | None = None
    split: str | None = None
    which: str | None = None
    seconds: float = 0.0
    surroundings: dict[str, Any] = field(default_factory=dict)

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1) if len(self.proba) else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.maps)

    def _name(self, k: int) -> str | None:
        return self.classes[k] if 0 <= k < len(self.classes) else None

    def example_dict(self, i: int, maps: bool = True) -> dict[str, Any]:
        """One example as JSON-able data: classes, probabilities and, per explained class, the
        map at input resolution (rows, scaled to a maximum of 1; ``scale`` is the raw maximum)."""
        pred, true = int(self.pred[i]), int(self.true[i])
        attrs = []
        kinds = ["pred", "true"] if self.target == "both" else [self.target]
        for j, kind in enumerate(kinds):
            m = self.maps[i, j]
            top = float(m.max()) if m.size else 0.0
            a: dict[str, Any] = {
                "method": self.method,
                "target": self._name(int(self.targets[i, j])),
                "target_kind": kind,
                "target_probability": float(self.proba[i, int(self.targets[i, j])]),
                "scale": top,
                "mass_inside": None if np.isnan(self.inside[i, j]) else float(self.inside[i, j]),
                "mass_border": None if np.isnan(self.border[i, j]) else float(self.border[i, j]),
            }
            if maps:
                a["map"] = np.round(m / top if top > 0 else m, 4).tolist()
            attrs.append(a)
        return {
            "id": self.ids[i],
            "true": self._name(true) if true >= 0 else None,
            "predicted": self._name(pred),
            "probability": float(self.proba[i, pred]),
            "true_probability": float(self.proba[i, true]) if true >= 0 else None,
            "correct": bool(pred == true) if true >= 0 else None,
            "attributions": attrs,
        }

    def to_dict(self, maps: bool = True) -> dict[str, Any]:
        """The whole explanation as JSON-able data (``maps=False`` leaves the maps out)."""
        return {
            "method": self.method,
            "target": self.target,
            "layer": self.layer,
            "split": self.split,
            "which": self.which,
            "input_size": list(self.maps.shape[-2:]),
            "seconds": self.seconds,
            "surroundings": self.surroundings,
            "examples": [self.example_dict(i, maps) for i in range(len(self))],
        }


def _targets(target: str, pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    if target not in TARGETS:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target != "pred" and (true < 0).any():
        raise ConfigError(
            f"--target {target} needs true labels, which image files do not have; use --target pred"
        )
    cols = {"pred": [pred], "true": [true], "both": [pred, true]}[target]
    return np.stack(cols, axis=1).astype(np.int64)


@torch.no_grad()
def _probabilities(model: nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    model.eval()
    device = next((p.device for p in model.parameters()), x.device)
    out = [
        torch.softmax(model(x[s : s + batch].to(device)).float(), 1).cpu() for s in range(0, len(x), batch)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def explain_images(
    model: nn.Module,
    x: torch.Tensor,
    *,
    classes: list[str],
    true: np.ndarray | None = None,
    method: str = "gradcam",
    target: str = "pred",
    layer: str | None = None,
    normalizer: Any = None,
    ids: list[str] | None = None,
    objects: np.ndarray | None = None,
    steps: int = 32,
) -> Explanation:
    """Attribution maps of ``model`` for the inputs ``x`` ``(N, C, H, W)`` (normalized as in
    training; ``normalizer`` turns them back into pixels and gives the black baseline).

    ``true`` labels (-1 or None: unknown), ``target`` ``pred``/``true``/``both``, ``objects`` an
    optional ``(N, H, W)`` boolean object mask per example (see :func:`objects_for`): with it the
    result carries the surroundings verdict, without it the border-strip hint.
    """
    METHODS.get(method)  # an unknown name fails before any work
    started = time.perf_counter()
    n = len(x)
    true_arr = np.full(n, -1, dtype=np.int64) if true is None else np.asarray(true, dtype=np.int64)
    proba = _probabilities(model, x)
    tgt = _targets(target, proba.argmax(axis=1) if n else np.zeros(0, np.int64), true_arr)
    base = black_baseline(tuple(x.shape), normalizer)
    h, w = x.shape[-2:]
    maps = np.zeros((n, tgt.shape[1], h, w), dtype=np.float32)
    for j in range(tgt.shape[1]):
        maps[:, j] = attribute(
            model, x, torch.from_numpy(tgt[:, j]), method, layer=layer, baseline=base, steps=steps
        )
    flat = maps.reshape(-1, h, w)
    border = mass_inside(flat, border_mask(h, w)).reshape(n, -1)
    if objects is not None:
        obj = np.repeat(np.asarray(objects, dtype=bool), tgt.shape[1], axis=0)
        inside = mass_inside(flat, obj).reshape(n, -1)
        area = np.asarray(objects, dtype=bool).reshape(n, -1).mean(axis=1)
        surroundings = {"kind": "objects", **surroundings_verdict(inside[:, 0], tgt[:, 0], classes, area)}
        surroundings["by"] = "predicted class" if target != "true" else "true class"
    else:
        inside = np.full_like(border, np.nan)
        surroundings = {"kind": "border", **border_hint(maps[:, 0])}
    return Explanation(
        method=method,
        target=target,
        classes=list(classes),
        images=to_pixels(x, normalizer),
        maps=maps,
        targets=tgt,
        true=true_arr,
        proba=proba,
        ids=list(ids) if ids is not None else [f"#{i}" for i in range(n)],
        inside=inside,
        border=border,
        layer=conv_layer(model, layer)[0] if method == "gradcam" else None,
        seconds=time.perf_counter() - started,
        surroundings=surroundings,
    )


def split_ids(split: Any) -> list[str]:
    """Identifiers of a split's examples: its ids, else ``#<index>`` (the position in the source)."""
    if getattr(split, "ids", None) is not None:
        return [str(i) for i in split.ids]
    return [f"#{int(i)}" for i in np.asarray(split.index)]


def explain_split(
    model: nn.Module,
    data: Any,
    split: str = "dev",
    *,
    which: str = "misclassified",
    n: int = 16,
    proba: np.ndarray | None = None,
    method: str = "gradcam",
    target: str = "pred",
    layer: str | None = None,
    boxes: str | Path | None = None,
    masks: str | Path | None = None,
    steps: int = 32,
) -> Explanation:
    """Choose ``n`` examples of ``split`` of a prepared dataset (``which``, see
    :func:`select_examples`) and explain them with :func:`explain_images`. ``proba`` are the
    split's class probabilities when already known (a run's predictions); else they are computed."""
    if split not in data.splits or len(data.splits[split]) == 0:
        have = ", ".join(k for k, v in data.splits.items() if len(v))
        raise ConfigError(f"--split {split}: the run has no such split with examples (splits: {have})")
    s = data.splits[split]
    METHODS.get(method)
    if proba is None or len(proba) != len(s):
        proba = _probabilities(model, s.x)
    true = s.y.cpu().numpy().astype(np.int64)
    chosen = select_examples(true, proba, which, n, list(data.classes))
    pos = torch.as_tensor(chosen, dtype=torch.long, device=s.x.device)
    ids = [split_ids(s)[i] for i in chosen]
    h, w = s.x.shape[-2:]
    objects = objects_for(ids, h, w, boxes, masks)
    ex = explain_images(
        model,
        s.x[pos],
        classes=list(data.classes),
        true=true[chosen],
        method=method,
        target=target,
        layer=layer,
        normalizer=data.normalizer,
        ids=ids,
        objects=objects,
        steps=steps,
    )
    ex.split, ex.which = split, which
    return ex
