"""A synthetic set for the attribution tests.

20x20 images whose class is given only by a small bright 4x4 pattern in the top-left corner
(horizontal bar, vertical bar, diagonal, anti-diagonal); the centre holds an unrelated, dimmer handwritten
digit (drawn independently of the class) from scikit-learn's digits set, scaled up to 16x16. A
model that reaches full accuracy can only be looking at the corner.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

SIZE, PATCH = 20, 4
#: The digit is dimmer than the pattern (15% of full brightness): it is there, but unrelated.
DIM = 0.15
#: Where the class-giving pattern is (x0, y0, x1, y1) and where the unrelated digit is.
PATCH_BOX = (0, 0, PATCH, PATCH)
CENTRE_BOX = (4, 4, 20, 20)
CLASSES = ["hbar", "vbar", "diagonal", "antidiagonal"]

_CONVS = [
    {"conv2d": {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"conv2d": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}},
]
#: Two convolutions at full resolution, then pool, flatten and dense (the zoo's kind of head).
CNN = [*_CONVS, {"maxpool2d": {"pool_size": 4}}, "flatten", {"dense": {"units": 4}}]
#: The same convolutions with a global-average-pooling head, the architecture Grad-CAM (CAM) was
#: defined on: each class score is a weighted sum of channel means, so channel weights averaged
#: over positions are exact. With a flatten + dense head they are not, and Grad-CAM smears.
CNN_GAP = [*_CONVS, "global_avgpool", {"dense": {"units": 4}}]


def _patterns() -> np.ndarray:
    """Four patterns none of which contains another, so every class has evidence of its own (a
    pattern inside another would let its class be recognized by what is missing)."""
    p = np.zeros((4, PATCH, PATCH), np.float32)
    p[0, 1:3, :] = 1.0  # horizontal bar
    p[1, :, 1:3] = 1.0  # vertical bar
    p[2] = np.eye(PATCH)  # diagonal
    p[3] = np.eye(PATCH)[::-1]  # anti-diagonal
    return p


def corner_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images ``(n, 20, 20)`` and their labels: pattern in the corner, digit in the centre."""
    rng = np.random.default_rng(seed)
    digits = load_digits().images / 16.0
    y = rng.integers(0, 4, n)
    which = rng.integers(0, len(digits), n)  # the digit is drawn independently of the class
    x = np.zeros((n, SIZE, SIZE), np.float32)
    x[:, 4:20, 4:20] = DIM * np.kron(digits[which], np.ones((2, 2)))
    x[:, :PATCH, :PATCH] = _patterns()[y]
    return (x * 255).round().astype(np.uint8), y
