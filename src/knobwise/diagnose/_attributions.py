"""Attribution maps through captum: which input pixels a model's class score rests on.

Four methods, by name (``knobwise explain --method``):

- ``gradcam``: Grad-CAM on a convolutional layer (the last one unless named), upsampled
  bilinearly to the input resolution; ReLU applied, as in the original method (evidence *for*
  the class only).
- ``saliency``: the absolute input gradient, summed over channels.
- ``integrated_gradients``: integrated gradients from a baseline image (black by default in the
  callers) to the input; the absolute value summed over channels.
- ``occlusion``: the drop of the class score when a square window is replaced by the baseline;
  the positive part (regions whose removal lowers the score).

Every map is ``(N, H, W)``, non-negative, at the input resolution, so maps of different methods
can be compared and their mass summed over a box. captum is an optional extra: a missing captum
is one line naming it.

Example:
    >>> import torch
    >>> from knobwise.models import build_from_layers
    >>> torch.manual_seed(0) and None
    >>> model = build_from_layers(
    ...     [{"conv2d": {"filters": 4, "kernel_size": 3, "padding": "same"}}, "flatten",
    ...      {"dense": {"units": 3}}], (1, 8, 8)).eval()
    >>> maps = attribute(model, torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1]), "gradcam")
    >>> maps.shape, bool((maps >= 0).all())
    ((5, 8, 8), True)
    >>> conv_layer(model)[0]
    'conv2d_1'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from knobwise.errors import ConfigError
from knobwise.registry import Registry, closest

__all__ = ["METHODS", "attribute", "conv_layer", "has_conv_layer", "require_captum", "list_methods"]

#: The attribution methods by name; each maps (model, x, targets, options) to ``(N, H, W)`` maps.
METHODS: Registry[Callable[..., torch.Tensor]] = Registry("attribution method", key="--method")

#: One line for a missing optional dependency, naming the extra that installs it.
_CAPTUM_MISSING = (
    "attributions need captum, which is not installed; install the extra: pip install 'knobwise[explain]'"
)


def require_captum() -> Any:
    """The ``captum.attr`` module, or a :class:`ConfigError` (exit 2) naming the extra."""
    try:
        # lazy: captum is the optional `explain` extra
        import captum.attr as attr
    except ImportError as exc:
        raise ConfigError(_CAPTUM_MISSING) from exc
    return attr


def list_methods() -> list[str]:
    """The method names, sorted.

    >>> list_methods()
    ['gradcam', 'integrated_gradients', 'occlusion', 'saliency']
    """
    return METHODS.names()


def _convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named modules that hold a 2-D convolution: a layer-list model's top-level layers
    (``conv2d_3``: conv plus its activation, the usual Grad-CAM layer), else the bare convs."""
    top = [
        (name, m)
        for name, m in model.named_children()
        if any(isinstance(sub, nn.Conv2d) for sub in m.modules())
        and not any(isinstance(sub, nn.Linear) for sub in m.modules())
    ]
    if top:
        return top
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def has_conv_layer(model: nn.Module) -> bool:
    """Whether Grad-CAM has a layer to read (an MLP has none)."""
    return bool(_convs(model))


def conv_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """The layer Grad-CAM reads: ``name`` (any module name of the model), else the last
    convolutional layer; a model without one (an MLP) is a :class:`ConfigError`."""
    modules = dict(model.named_modules())
    if name is not None:
        if name in modules and name:
            return name, modules[name]
        near = closest(name, [n for n in modules if n])
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        known = ", ".join(n for n, _ in _convs(model)) or "none"
        raise ConfigError(f"--layer: the model has no layer {name!r}{hint} (convolutional layers: {known})")
    found = _convs(model)
    if not found:
        raise ConfigError(
            "--method gradcam needs a convolutional layer and this model has none (an MLP); "
            "use saliency, integrated_gradients or occlusion"
        )
    return found[-1]


def _channel_sum(a: torch.Tensor) -> torch.Tensor:
    return a.sum(dim=1) if a.ndim == 4 else a


@METHODS.register("gradcam")
def _gradcam(model: nn.Module, x: torch.Tensor, t: torch.Tensor, layer: Any = None, **rest: Any) -> Any:
    captum_attr = require_captum()
    _, module = conv_layer(model, layer)
    cam = captum_attr.LayerGradCam(model, module).attribute(x, target=t, relu_attributions=True)
    if cam.ndim != 4:
        raise ConfigError(f"--layer {layer!r}: Grad-CAM needs a layer with (N, C, H, W) output")
    up = captum_attr.LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return up.sum(dim=1).clamp_min(0)


@METHODS.register("saliency")
def _saliency(model: nn.Module, x: torch.Tensor, t: torch.Tensor, **rest: Any) -> Any:
    attr = require_captum()
    return _channel_sum(attr.Saliency(model).attribute(x, target=t, abs=True))


@METHODS.register("integrated_gradients")
def _integrated_gradients(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor, baseline: torch.Tensor, steps: int = 32, **_: Any
) -> Any:
    attr = require_captum()
    ig = attr.IntegratedGradients(model).attribute(
        x, baselines=baseline.expand_as(x), target=t, n_steps=steps, internal_batch_size=len(x) * 8
    )
    return _channel_sum(ig.abs())


def occlusion_window(h: int, w: int) -> tuple[int, int]:
    """Window side and stride for occlusion: about 1/7 of the image side, stride half of it.

    >>> occlusion_window(28, 28), occlusion_window(8, 8), occlusion_window(32, 32)
    ((4, 2), (2, 1), (5, 2))
    """
    side = max(2, round(min(h, w) / 7))
    return side, max(1, side // 2)


@METHODS.register("occlusion")
def _occlusion(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor, baseline: torch.Tensor, **rest: Any
) -> Any:
    attr = require_captum()
    side, stride = occlusion_window(x.shape[-2], x.shape[-1])
    occ = attr.Occlusion(model).attribute(
        x,
        sliding_window_shapes=(x.shape[1], side, side),
        strides=(x.shape[1], stride, stride),
        baselines=baseline.expand_as(x),
        target=t,
        perturbations_per_eval=16,
    )
    return _channel_sum(occ).clamp_min(0)


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    method: str = "gradcam",
    *,
    layer: str | None = None,
    baseline: torch.Tensor | None = None,
    steps: int = 32,
    batch_size: int = 64,
) -> np.ndarray:
    """Attribution maps ``(N, H, W)`` (``float32``, non-negative, input resolution) of ``model``
    for inputs ``x`` ``(N, C, H, W)`` and the class indices ``targets`` ``(N,)``.

    ``baseline`` (``(1, C, H, W)`` or broadcastable; default zeros) is the reference image of
    integrated gradients and the fill of occlusion; ``layer`` names the Grad-CAM layer; ``steps``
    the integrated-gradients steps. The model is put in eval mode; examples go through in batches
    of ``batch_size``.
    """
    fn = METHODS.get(method)
    require_captum()
    if method == "gradcam":
        conv_layer(model, layer)  # an MLP or an unknown name fails before any work
    if x.ndim != 4:
        raise ConfigError(f"attribute: inputs must be (N, C, H, W) images, got shape {tuple(x.shape)}")
    if len(targets) != len(x):
        raise ConfigError(f"attribute: {len(targets)} targets for {len(x)} inputs")
    model.eval()
    device = next((p.device for p in model.parameters()), x.device)
    base = torch.zeros_like(x[:1]) if baseline is None else baseline.to(x.dtype)
    out: list[np.ndarray] = []
    with torch.enable_grad():
        for start in range(0, len(x), max(1, batch_size)):
            xb = x[start : start + batch_size].to(device).detach().clone().requires_grad_(True)
            tb = torch.as_tensor(targets[start : start + batch_size], dtype=torch.long, device=device)
            maps = fn(model, xb, tb, layer=layer, baseline=base.to(device), steps=steps)
            out.append(maps.detach().float().cpu().numpy())
    if not out:
        return np.zeros((0, *x.shape[-2:]), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)
