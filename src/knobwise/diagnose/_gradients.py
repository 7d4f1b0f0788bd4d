"""Gradient health from the per-layer gradient norms a run records in its history.

The trainer writes ``grad_norm/<layer>`` columns (the mean over the epoch's steps of each layer's
gradient L2 norm, layers in network order). Two problems are flagged:

- ``vanishing_gradients``: the first layer's gradient norm is orders of magnitude (default 100x)
  below the largest later layer's, in most epochs — early layers barely learn;
- ``exploding_gradients``: a non-finite norm, a norm above ``explode_at`` (default 1000), or norms
  that grow more than 100x from the first epoch to the last.

Example:
    >>> rows = [{"epoch": 1, "loss": 2.3, "grad_norm/dense_1": 1e-6, "grad_norm/dense_2": 0.5}]
    >>> [f.problem for f in diagnose_gradients(rows)]
    ['vanishing_gradients']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knobwise.diagnose._advice import Knob, knobs_for

__all__ = ["GradientFinding", "diagnose_gradients", "gradient_table", "GRAD_PREFIX"]

GRAD_PREFIX = "grad_norm/"


@dataclass
class GradientFinding:
    """One gradient problem: the layers involved, the epoch it shows (1-based), what was seen, knobs."""

    problem: str
    epoch: int | None
    layers: list[str]
    detail: str
    knobs: list[Knob] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "problem": self.problem,
            "epoch": self.epoch,
            "layers": self.layers,
            "detail": self.detail,
            "knobs": [k.to_dict() for k in self.knobs],
        }


def gradient_table(rows: list[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Layer names (network order) and an (epochs, layers) array of gradient norms (NaN if absent).

    >>> gradient_table([{"grad_norm/a": 1.0, "grad_norm/b": 2.0}])[1].tolist()
    [[1.0, 2.0]]
    """
    layers: list[str] = []
    for row in rows:
        for k in row:
            if k.startswith(GRAD_PREFIX) and k[len(GRAD_PREFIX) :] not in layers:
                layers.append(k[len(GRAD_PREFIX) :])
    table = np.full((len(rows), len(layers)), math.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(layers):
            v = row.get(GRAD_PREFIX + name)
            if isinstance(v, int | float):
                table[i, j] = float(v)
    return layers, table


def _exploding(layers: list[str], table: np.ndarray, explode_at: float) -> GradientFinding | None:
    present = ~np.isnan(table)  # NaN from a missing cell is "not recorded"; inf is a real value
    nonfinite = present & ~np.isfinite(table)
    if nonfinite.any():
        epoch, col = (int(v) for v in np.argwhere(nonfinite)[0])
        return GradientFinding(
            "exploding_gradients",
            epoch + 1,
            [layers[col]],
            f"non-finite gradient norm in layer {layers[col]}",
        )
    big = present & (np.nan_to_num(table) > explode_at)
    if big.any():
        epoch, col = (int(v) for v in np.argwhere(big)[0])
        return GradientFinding(
            "exploding_gradients",
            epoch + 1,
            [layers[col]],
            f"gradient norm {table[epoch, col]:.3g} in layer {layers[col]} (above {explode_at:g})",
        )
    if len(table) >= 3:
        total = np.sqrt(np.nansum(np.square(table), axis=1))
        if total[0] > 0 and total[-1] / total[0] > 100.0:
            return GradientFinding(
                "exploding_gradients",
                len(table),
                layers,
                f"gradient norms grew {total[-1] / total[0]:.3g}x from the first epoch to the last",
            )
    return None


def _vanishing(layers: list[str], table: np.ndarray, ratio: float) -> GradientFinding | None:
    if len(layers) < 2 or not len(table):
        return None
    first = table[:, 0]
    later = np.nanmax(np.where(np.isfinite(table[:, 1:]), table[:, 1:], np.nan), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = first / later
    ok = np.isfinite(r) & (later > 0)
    if not ok.any():
        return None
    low = ok & (r < 1.0 / ratio)
    if low.sum() < max(1, math.ceil(0.5 * ok.sum())):
        return None
    worst = float(np.nanmedian(r[ok]))
    epoch = int(np.flatnonzero(low)[0]) + 1
    return GradientFinding(
        "vanishing_gradients",
        epoch,
        [layers[0]],
        f"the first layer ({layers[0]}) gets {worst:.2g}x the gradient norm of the strongest later layer "
        f"(median over epochs; below 1/{ratio:g} in {int(low.sum())} of {int(ok.sum())} epochs)",
    )


def diagnose_gradients(
    rows: list[dict[str, Any]],
    *,
    ratio: float = 100.0,
    explode_at: float = 1000.0,
    config: dict[str, Any] | None = None,
) -> list[GradientFinding]:
    """Vanishing and exploding gradients from history rows with ``grad_norm/<layer>`` columns.

    Returns no findings when the history has no gradient columns (``train.grad_stats: false``).
    """
    layers, table = gradient_table(rows)
    if not layers:
        return []
    found = [f for f in (_exploding(layers, table, explode_at), _vanishing(layers, table, ratio)) if f]
    for f in found:
        f.knobs = knobs_for(f.problem, config)
    return found
