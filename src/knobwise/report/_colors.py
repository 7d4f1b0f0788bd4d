"""Two of matplotlib's perceptually uniform colormaps as small tables, for figures that are not
drawn with matplotlib (a run's report does not import it): viridis for the confusion-matrix
cells, inferno for the attribution heat maps. Each table holds the map at 0, 0.05, ..., 1 (RGB
0-255); linear interpolation between them is within 6 levels of matplotlib's own.

Example:
    >>> lookup(VIRIDIS, np.array([0.0, 1.0])).round(3).tolist()
    [[0.267, 0.004, 0.329], [0.992, 0.906, 0.145]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["INFERNO", "VIRIDIS", "lookup"]

VIRIDIS = np.array(
    [
        [68, 1, 84], [71, 19, 101], [72, 36, 117], [70, 52, 128], [65, 68, 135], [59, 82, 139],
        [53, 95, 141], [47, 108, 142], [42, 120, 142], [37, 132, 142], [33, 145, 140], [30, 156, 137],
        [34, 168, 132], [47, 180, 124], [68, 191, 112], [94, 201, 98], [122, 209, 81], [155, 217, 60],
        [189, 223, 38], [223, 227, 24], [253, 231, 37],
    ],
    dtype=float,
)  # fmt: skip

INFERNO = np.array(
    [
        [0, 0, 4], [7, 5, 27], [22, 11, 57], [43, 11, 87], [66, 10, 104], [87, 16, 110],
        [106, 23, 110], [127, 30, 108], [147, 38, 103], [168, 46, 95], [188, 55, 84], [204, 66, 72],
        [221, 81, 58], [234, 99, 42], [243, 120, 25], [249, 142, 9], [252, 165, 10], [251, 190, 35],
        [246, 215, 70], [241, 239, 117], [252, 255, 164],
    ],
    dtype=float,
)  # fmt: skip


def lookup(table: np.ndarray, values: np.ndarray | float) -> np.ndarray:
    """The colours of ``values`` (clipped to [0, 1]) in ``table``, as RGB in [0, 1] on a new
    last axis."""
    v = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
    anchors = np.linspace(0.0, 1.0, len(table))
    return np.stack([np.interp(v, anchors, table[:, c]) for c in range(3)], axis=-1) / 255.0
