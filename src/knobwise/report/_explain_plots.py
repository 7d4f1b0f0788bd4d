"""Figures of what the network looks at: attribution heat maps over the images, first-layer filters.

The heat map is blended into each image in numpy (a colormap over the grayscale image) and all
examples are tiled into one labelled PNG by :func:`~knobwise.report._grid.image_grid`, titled
with the true and predicted class and the probabilities.

Example:
    >>> import numpy as np
    >>> rgb = overlay(np.zeros((2, 1, 4, 4)), np.random.default_rng(0).random((2, 4, 4)))
    >>> rgb.shape, bool(rgb.min() >= 0 and rgb.max() <= 1)
    ((2, 3, 4, 4), True)
    >>> filters_grid(np.random.default_rng(0).normal(size=(6, 1, 3, 3)), "conv2d_1").name
    'filters'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knobwise.report._colors import INFERNO, lookup
from knobwise.report._figures import ReportFigure
from knobwise.report._grid import image_grid

__all__ = ["overlay", "explanation_grid", "filters_grid", "feature_maps_grid", "heat_colors", "HEAT_CMAP"]

#: Perceptually uniform, dark where there is no evidence: the image stays visible under it.
HEAT_CMAP = "inferno"
_ALPHA = 0.6


def heat_colors(values: np.ndarray) -> np.ndarray:
    """The :data:`HEAT_CMAP` colours of ``values`` in [0, 1], as RGB in [0, 1] on a new last axis.

    >>> heat_colors(np.array([0.0, 1.0])).round(3).tolist()
    [[0.0, 0.0, 0.016], [0.988, 1.0, 0.643]]
    """
    return lookup(INFERNO, values)


def overlay(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` with the maps ``(N, H, W)`` blended over them as a
    heat map (each map scaled to its own maximum), as RGB ``(N, 3, H, W)``."""
    images = np.asarray(images, dtype=float)
    maps = np.asarray(maps, dtype=float)
    gray = images.mean(axis=1) if images.shape[1] != 3 else None
    base = np.repeat(gray[:, None], 3, axis=1) if gray is not None else images
    top = maps.reshape(len(maps), -1).max(axis=1) if maps.size else np.zeros(0)
    scaled = maps / np.where(top > 0, top, 1.0)[:, None, None]
    heat = np.moveaxis(heat_colors(scaled), -1, 1)
    weight = _ALPHA * scaled[:, None]  # no evidence: the plain image; strong evidence: the color
    return np.clip((1 - weight) * base + weight * heat, 0, 1)


def _label(classes: list[str], k: int) -> str:
    return classes[k] if 0 <= k < len(classes) else "?"


def explanation_grid(ex: Any, name: str = "explain", title: str | None = None) -> ReportFigure:
    """The examples of an :class:`~knobwise.diagnose.Explanation` with their maps overlaid,
    titled ``true:pred probability`` (``?`` for an unknown true class); with ``target="both"``
    each example has two cells, the map for the predicted class and the one for the true class."""
    n, t = ex.maps.shape[:2]
    pred, proba = ex.pred, ex.proba
    cells, titles = [], []
    for i in range(n):
        head = f"{_label(ex.classes, int(ex.true[i]))}:{_label(ex.classes, int(pred[i]))}"
        for j in range(t):
            k = int(ex.targets[i, j])
            cells.append(overlay(ex.images[i : i + 1], ex.maps[i : i + 1, j])[0])
            if t == 1:
                titles.append(f"{head} {proba[i, int(pred[i])]:.2f}")
            else:
                titles.append(f"{'pred' if j == 0 else 'true'} {_label(ex.classes, k)} {proba[i, k]:.2f}")
    layer = f", layer {ex.layer}" if getattr(ex, "layer", None) else ""
    what = "predicted class" if ex.target == "pred" else "true class" if ex.target == "true" else "both"
    title = title or (
        f"What the network looks at: {ex.method}{layer} for the {what} "
        f"(true:pred probability; bright = more evidence)"
    )
    if not cells:
        cells_arr = np.zeros((0, 3, *ex.maps.shape[-2:]))
    else:
        cells_arr = np.stack(cells)
    return image_grid(cells_arr, titles, name, title)


def _unit(a: np.ndarray) -> np.ndarray:
    """Each item min-max scaled to ``[0, 1]`` (a constant item becomes mid-gray)."""
    flat = a.reshape(len(a), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (flat - lo[:, None]) / span[:, None]
    out[hi <= lo] = 0.5
    return out.reshape(a.shape)


def filters_grid(weights: np.ndarray, layer: str) -> ReportFigure:
    """First-layer filters ``(F, C, kh, kw)``: RGB for three input channels, gray otherwise
    (the mean over channels), each scaled to its own range."""
    w = np.asarray(weights, dtype=float)
    shown = w if w.shape[1] == 3 else w.mean(axis=1, keepdims=True)
    titles = [f"filter {i + 1}" for i in range(len(w))]
    kh, kw = w.shape[-2:]
    return image_grid(
        _unit(shown), titles, "filters", f"First-layer filters ({layer}, {len(w)} of {kh}x{kw})"
    )


def feature_maps_grid(maps: np.ndarray, layer: str) -> ReportFigure:
    """The first layer's output ``(F, h, w)`` for one image, each map scaled to its own range."""
    m = np.asarray(maps, dtype=float)[:, None]
    titles = [f"map {i + 1}" for i in range(len(m))]
    return image_grid(_unit(m), titles, "feature_maps", f"First-layer feature maps ({layer}) of one image")
