"""Per-channel normalization fitted on the training split only.

Pixels are first brought to ``[0, 1]`` by dividing by ``pixel_max`` (255 for ``uint8`` images, 16
for scikit-learn's digits, 1 for float arrays, which are used as given). Then, per channel:

- ``standardize``: ``(x - mean) / std`` with train mean and std (a constant channel keeps std 1);
- ``minmax``: ``(x - min) / (max - min)`` with train min and max;
- ``none``: unchanged after the ``[0, 1]`` scaling.

Statistics are accumulated in float64 over chunks, so large datasets need no float64 copy.

Keras's preprocessing (featurewise / samplewise centring and std normalization, ZCA whitening;
see :mod:`knobwise.data._keras_preprocess`) comes after, as fitted ``steps`` of the normalizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from knobwise.data._keras_preprocess import apply_steps, steps_from_dict, steps_to_dict
from knobwise.errors import DataError

__all__ = ["Normalizer", "NORMALIZE_MODES"]

NORMALIZE_MODES = ("standardize", "minmax", "none")
_CHUNK = 4096


def _uint8_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel min, max, mean, std of uint8 images, exact, from a 256-bin histogram."""
    values = np.arange(256, dtype=np.float64)
    out = []
    for c in range(x.shape[1]):
        hist = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        nz = np.nonzero(hist)[0]
        mean = (hist * values).sum() / hist.sum()
        var = (hist * (values - mean) ** 2).sum() / hist.sum()
        out.append((values[nz[0]], values[nz[-1]], mean, np.sqrt(var)))
    lo, hi, mean, std = (np.array(v, dtype=np.float64) for v in zip(*out, strict=True))
    return lo, hi, mean, std


def _float_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel min, max, mean, std in float64, two passes over chunks (no full float64 copy)."""
    chunks = range(0, len(x), _CHUNK)
    lo = np.min([x[i : i + _CHUNK].min(axis=(0, 2, 3)) for i in chunks], axis=0).astype(np.float64)
    hi = np.max([x[i : i + _CHUNK].max(axis=(0, 2, 3)) for i in chunks], axis=0).astype(np.float64)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = np.sum([x[i : i + _CHUNK].astype(np.float64).sum(axis=(0, 2, 3)) for i in chunks], axis=0) / count
    m = mean[None, :, None, None]
    sq = [((x[i : i + _CHUNK].astype(np.float64) - m) ** 2).sum(axis=(0, 2, 3)) for i in chunks]
    return lo, hi, mean, np.sqrt(np.sum(sq, axis=0) / count)


class Normalizer:
    """``y = (x / pixel_max - shift) / scale`` per channel.

    >>> import numpy as np, torch
    >>> x = np.random.default_rng(0).integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)
    >>> norm = Normalizer.fit(x, "standardize", pixel_max=255)
    >>> out = norm(torch.from_numpy(x))
    >>> bool(out.mean(dim=(0, 2, 3)).abs().max() < 1e-5)
    True
    >>> Normalizer.from_dict(norm.to_dict()).shift == norm.shift
    True
    """

    def __init__(
        self,
        mode: str,
        shift: Sequence[float],
        scale: Sequence[float],
        pixel_max: float = 1.0,
        steps: list[dict[str, Any]] | None = None,
    ):
        if mode not in NORMALIZE_MODES:
            raise DataError(f"data.normalize must be one of {', '.join(NORMALIZE_MODES)}, got {mode!r}")
        if len(shift) != len(scale):
            raise DataError(f"normalizer: {len(shift)} shifts but {len(scale)} scales")
        self.mode = mode
        self.shift = [float(v) for v in shift]
        self.scale = [float(v) for v in scale]
        self.pixel_max = float(pixel_max)
        #: Keras preprocessing steps applied after the per-channel shift and scale.
        self.steps: list[dict[str, Any]] = list(steps or [])

    def with_steps(self, steps: list[dict[str, Any]]) -> Normalizer:
        """This normalizer followed by fitted Keras preprocessing ``steps``; featurewise steps
        alone fold into the per-channel shift and scale (so augmentation fill values and the
        inverse for display stay exact)."""
        if len(steps) == 1 and steps[0]["kind"] == "channel":
            mean, std = steps[0]["mean"], steps[0]["std"]
            shift = [s + m * c for s, m, c in zip(self.shift, mean, self.scale, strict=True)]
            scale = [c * d for c, d in zip(self.scale, std, strict=True)]
            return Normalizer(self.mode, shift, scale, self.pixel_max)
        return Normalizer(self.mode, self.shift, self.scale, self.pixel_max, steps)

    @property
    def channels(self) -> int:
        return len(self.shift)

    @classmethod
    def fit(cls, x: np.ndarray, mode: str, pixel_max: float = 1.0) -> Normalizer:
        """Fit on training images ``x`` ``(N, C, H, W)`` (raw pixel values)."""
        if mode not in NORMALIZE_MODES:
            raise DataError(f"data.normalize must be one of {', '.join(NORMALIZE_MODES)}, got {mode!r}")
        c = x.shape[1]
        if mode == "none" or len(x) == 0:
            return cls(mode, [0.0] * c, [1.0] * c, pixel_max)
        if x.dtype == np.uint8:
            lo, hi, mean, std = _uint8_stats(x)
        else:
            lo, hi, mean, std = _float_stats(x)
        lo, hi, mean, std = lo / pixel_max, hi / pixel_max, mean / pixel_max, std / pixel_max
        if mode == "minmax":
            span = hi - lo
            return cls(mode, lo.tolist(), np.where(span > 0, span, 1.0).tolist(), pixel_max)
        return cls(mode, mean.tolist(), np.where(std > 1e-12, std, 1.0).tolist(), pixel_max)

    def _params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise DataError(
                f"normalizer expects (N, {self.channels}, H, W) images, got shape {tuple(x.shape)}"
            )
        shape = (1, self.channels, 1, 1)
        shift = torch.tensor(self.shift, dtype=torch.float32, device=x.device).view(shape)
        scale = torch.tensor(self.scale, dtype=torch.float32, device=x.device).view(shape)
        return shift, scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized float32 copy of raw pixels ``x`` ``(N, C, H, W)``, on ``x``'s device."""
        return self.apply_(x.to(torch.float32, copy=True))

    def apply_(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize a float32 tensor in place (saves a copy of a whole dataset) and return it."""
        shift, scale = self._params(x)
        x.div_(self.pixel_max).sub_(shift).div_(scale)
        return apply_steps(x, self.steps) if self.steps else x

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, the inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "shift": self.shift,
            "scale": self.scale,
            "pixel_max": self.pixel_max,
        }
        if self.steps:
            out["steps"] = steps_to_dict(self.steps)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        try:
            steps = steps_from_dict(d.get("steps") or [])
            return cls(d["mode"], d["shift"], d["scale"], d.get("pixel_max", 1.0), steps)
        except (KeyError, TypeError) as exc:
            raise DataError(f"normalizer: malformed description {d!r} ({exc})") from exc

    def __repr__(self) -> str:
        return (
            f"Normalizer({self.mode!r}, shift={self.shift}, scale={self.scale}, pixel_max={self.pixel_max})"
        )
