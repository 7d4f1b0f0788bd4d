"""Keras ``ImageDataGenerator`` preprocessing: featurewise / samplewise centring and std
normalization, ZCA whitening — fitted on the training split only, applied to every split.

The meaning is Keras's (``ImageDataGenerator.fit`` and ``.standardize``), on the pixels after
``data.normalize`` (``normalize: none`` gives Keras's ``rescale=1/255``):

- ``samplewise_center``: each image minus its own mean (over all pixels and channels);
- ``samplewise_std_normalization``: each image divided by its own std + 1e-6;
- ``featurewise_center``: minus the training split's per-channel mean;
- ``featurewise_std_normalization``: divided by the training split's per-channel std + 1e-6;
- ``zca_whitening``: the flattened image times ``U diag(1/sqrt(S + zca_epsilon)) Uᵀ`` where
  ``U S Uᵀ`` is the SVD of the training split's ``XᵀX / N`` (X flattened, after the featurewise
  steps; Keras does not center X here, so set ``featurewise_center`` with it, as Keras warns).

As in Keras, each image is standardized samplewise first, then featurewise, then whitened, and the
featurewise statistics and the ZCA matrix are fitted on the training images without the samplewise
steps. The fitted steps are part of the :class:`~knobwise.data.Normalizer` (and of ``model.json``'s
``data.normalizer``), so whatever maps raw images to model inputs applies them. When only the
featurewise steps are used, they are folded into the normalizer's per-channel shift and scale.

Example:
    >>> import numpy as np, torch
    >>> x = torch.from_numpy(np.random.default_rng(0).normal(2.0, 3.0, (64, 1, 4, 4)).astype("float32"))
    >>> steps = fit_steps(x, {"samplewise_center": True, "zca_whitening": True, "zca_epsilon": 1e-6})
    >>> [s["kind"] for s in steps]
    ['samplewise_center', 'zca']
    >>> out = apply_steps(x.clone(), steps[:1])  # samplewise_center alone: every image's mean is 0
    >>> bool(out.mean(dim=(1, 2, 3)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch

from knobwise.errors import DataError

__all__ = ["KERAS_EPS", "KERAS_KEYS", "fit_steps", "apply_steps", "steps_to_dict", "steps_from_dict"]

#: The ``data:`` keys of this module (ImageDataGenerator's names).
KERAS_KEYS = (
    "featurewise_center",
    "featurewise_std_normalization",
    "samplewise_center",
    "samplewise_std_normalization",
    "zca_whitening",
)
KERAS_EPS = 1e-6  # Keras's constant in the std normalizations
_CHUNK = 4096


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std of ``x`` ``(N, C, H, W)``, in float64, in chunks."""
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    for i in range(0, len(x), _CHUNK):
        total += x[i : i + _CHUNK].double().sum(dim=(0, 2, 3)).cpu()
    mean = total / max(count, 1)
    sq = torch.zeros(c, dtype=torch.float64)
    m = mean.to(x.device).view(1, c, 1, 1)
    for i in range(0, len(x), _CHUNK):
        sq += ((x[i : i + _CHUNK].double() - m) ** 2).sum(dim=(0, 2, 3)).cpu()
    return mean, (sq / max(count, 1)).sqrt()


def fit_steps(x: torch.Tensor, opts: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps ``opts`` asks for (``KERAS_KEYS`` booleans and ``zca_epsilon``), fitted on the
    normalized training images ``x`` ``(N, C, H, W)``; an empty list when none is on."""
    steps: list[dict[str, Any]] = []
    if opts.get("samplewise_center"):
        steps.append({"kind": "samplewise_center"})
    if opts.get("samplewise_std_normalization"):
        steps.append({"kind": "samplewise_std"})
    fw_center, fw_std = bool(opts.get("featurewise_center")), bool(opts.get("featurewise_std_normalization"))
    if (fw_center or fw_std or opts.get("zca_whitening")) and len(x) == 0:
        raise DataError("data: featurewise statistics and ZCA need training examples")
    mean = torch.zeros(x.shape[1], dtype=torch.float64)
    std = torch.ones(x.shape[1], dtype=torch.float64)
    if fw_center or fw_std:
        m, s = _channel_stats(x)
        if fw_center:
            mean = m
        if fw_std:
            # Keras computes the std after centring (it is the same number) and divides by std + eps.
            std = s + KERAS_EPS
        steps.append({"kind": "channel", "mean": mean.tolist(), "std": std.tolist()})
    if opts.get("zca_whitening"):
        steps.append(
            {"kind": "zca", "matrix": _zca_matrix(x, mean, std, float(opts.get("zca_epsilon", 1e-6)))}
        )
    return steps


def _zca_matrix(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float) -> torch.Tensor:
    n, c = x.shape[0], x.shape[1]
    d = int(np.prod(x.shape[1:]))
    sigma = torch.zeros(d, d, dtype=torch.float64)
    m = mean.to(x.device).view(1, c, 1, 1)
    s = std.to(x.device).view(1, c, 1, 1)
    for i in range(0, n, _CHUNK):
        flat = ((x[i : i + _CHUNK].double() - m) / s).reshape(-1, d)
        sigma += (flat.T @ flat).cpu()
    sigma /= n
    u, sv, _ = torch.linalg.svd(sigma)
    return ((u * (1.0 / torch.sqrt(sv + eps))[None, :]) @ u.T).float()


def apply_steps(x: torch.Tensor, steps: list[dict[str, Any]]) -> torch.Tensor:
    """Apply fitted ``steps`` to float32 images ``x`` ``(N, C, H, W)`` in place; returns ``x``."""
    for step in steps:
        kind = step["kind"]
        if kind == "samplewise_center":
            x.sub_(x.mean(dim=(1, 2, 3), keepdim=True))
        elif kind == "samplewise_std":
            x.div_(x.std(dim=(1, 2, 3), keepdim=True, unbiased=False) + KERAS_EPS)
        elif kind == "channel":
            shape = (1, x.shape[1], 1, 1)
            x.sub_(torch.tensor(step["mean"], dtype=x.dtype, device=x.device).view(shape))
            x.div_(torch.tensor(step["std"], dtype=x.dtype, device=x.device).view(shape))
        elif kind == "zca":
            matrix = step["matrix"].to(device=x.device, dtype=x.dtype)
            d = matrix.shape[0]
            if int(np.prod(x.shape[1:])) != d:
                raise DataError(
                    f"ZCA whitening was fitted on {d} values per image, got shape {tuple(x.shape)}"
                )
            for i in range(0, len(x), _CHUNK):
                part = x[i : i + _CHUNK]
                part.copy_((part.reshape(-1, d) @ matrix).view_as(part))
        else:
            raise DataError(f"normalizer: unknown preprocessing step {kind!r}")
    return x


def steps_to_dict(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-able steps: the ZCA matrix as base64 float32 (little-endian) with its size."""
    out = []
    for step in steps:
        if step["kind"] == "zca":
            m = step["matrix"].detach().cpu().numpy().astype("<f4")
            out.append(
                {"kind": "zca", "size": m.shape[0], "matrix_b64": base64.b64encode(m.tobytes()).decode()}
            )
        else:
            out.append(dict(step))
    return out


def steps_from_dict(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inverse of :func:`steps_to_dict`."""
    out = []
    for step in items:
        if step.get("kind") == "zca":
            d = int(step["size"])
            raw = np.frombuffer(base64.b64decode(step["matrix_b64"]), dtype="<f4")
            if raw.size != d * d:
                raise DataError(f"normalizer: the ZCA matrix holds {raw.size} values, expected {d}x{d}")
            out.append({"kind": "zca", "matrix": torch.from_numpy(raw.reshape(d, d).copy())})
        else:
            out.append(dict(step))
    return out
