"""The layer-list builder: Keras-vocabulary layer specs -> a ``torch.nn`` module, shapes checked.

A layer list item is a bare name (``flatten``) or a one-key mapping ``{conv2d: {filters: 32, ...}}``.
:func:`normalize_layer` turns either into the flat, fully defaulted form
``{"type": "conv2d", "filters": 32, "kernel_size": 3, "strides": 1, ...}`` (which it also accepts,
so a saved ``model.json`` rebuilds as it was). Shapes are computed while building, so a layer that
does not fit its input fails before any data is touched.

Example:
    >>> model = build_from_layers(
    ...     [{"conv2d": {"filters": 4, "kernel_size": 3}}, "flatten", {"dense": {"units": 3}}], (1, 8, 8)
    ... )
    >>> model.output_shape, [s["type"] for s in model.layers_spec]
    ((3,), ['conv2d', 'flatten', 'dense'])
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from knobwise.errors import ConfigError, ModelError
from knobwise.models._init import apply_init
from knobwise.models._ops import ACTIVATIONS, AvgPoolSame, MaxPoolSame, make_activation, same_pads, same_size
from knobwise.registry import Registry, closest

__all__ = [
    "LAYERS",
    "Layer",
    "LayerModel",
    "LayerType",
    "build_from_layers",
    "build_sequence",
    "normalize_layer",
    "format_shape",
]

Shape = tuple[int, ...]
Built = tuple[list[tuple[str, nn.Module]], Shape]
_REQUIRED: Any = object()


#: A parameter check of a block: (value, key, num_classes) -> normalized value (nested layer lists).
BlockCheck = Callable[[Any, str, "int | None"], Any]


@dataclass(frozen=True)
class LayerType:
    """One word of the vocabulary: its parameters (default or required) and how to build it.

    ``checks`` override the shared parameter checks (blocks normalize their nested layer lists
    there); ``list_key`` is the parameter a bare list stands for (``parallel: [[...], [...]]``).
    """

    params: dict[str, Any]
    build: Callable[[dict[str, Any], Shape, str], Built | Layer]
    checks: dict[str, BlockCheck] = field(default_factory=dict)
    list_key: str | None = None


#: Layer types by YAML name (``model.layers``).
LAYERS: Registry[LayerType] = Registry("layer type", key="model.layers")


class Layer(nn.Sequential):
    """One entry of the layer list (for example conv + its activation); ``kind`` is its YAML type.

    Blocks (``residual``, ``parallel``) are subclasses with their own ``forward``; their children
    hold nested layer lists, so parameter names follow the tree (``residual_1.layers.conv2d_1``).
    """

    def __init__(self, kind: str, parts: list[tuple[str, nn.Module]]) -> None:
        super().__init__(OrderedDict(parts))
        self.kind = kind


class LayerModel(nn.Sequential):
    """A classifier built from a layer list; it keeps the list so it can be saved and rebuilt.

    Attributes:
        layers_spec: the normalized layer list (JSON-serializable).
        input_shape: (C, H, W) it was built for; output_shape: (K,).
        layer_shapes: output shape of each layer, without the batch dimension.
    """

    def __init__(self, layers: list[tuple[str, Layer]], spec: list[dict[str, Any]], input_shape: Shape):
        super().__init__(OrderedDict(layers))
        self.layers_spec = spec
        self.input_shape = input_shape
        self.layer_shapes: list[Shape] = []
        self.output_shape: Shape = input_shape

    def train(self, mode: bool = True) -> LayerModel:
        """Set train/eval mode; batch-norm layers marked ``frozen_stats`` (frozen by
        ``model.freeze``) stay in eval mode, so their running statistics never change."""
        super().train(mode)
        for module in self.modules():
            if getattr(module, "frozen_stats", False):
                nn.Module.train(module, False)
        return self


def format_shape(shape: Shape) -> str:
    """``64x2x2`` for an image shape, ``128`` for a flat one."""
    return "x".join(str(s) for s in shape)


# ---- parameter checks: each returns the normalized value or raises a ConfigError naming the key ----


def _int_min1(v: Any, key: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{key} must be an integer >= 1, got {v!r}")
    return v


def _units(v: Any, key: str) -> Any:
    return v if v == "classes" else _int_min1(v, key)


def _pair_param(v: Any, key: str) -> Any:
    if isinstance(v, list | tuple) and len(v) == 2:
        return [_int_min1(x, key) for x in v]
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{key} must be an integer >= 1 or a pair [h, w] of them, got {v!r}")
    return v


def _optional_pair(v: Any, key: str) -> Any:
    return None if v is None else _pair_param(v, key)


def _padding(v: Any, key: str) -> Any:
    if v not in ("valid", "same"):
        raise ConfigError(f"{key} must be 'valid' or 'same', got {v!r}")
    return v


def _activation(v: Any, key: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, str) or v not in ACTIVATIONS:
        near = closest(str(v), ACTIVATIONS.names())
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        raise ConfigError(
            f"{key}: unknown activation {v!r}{hint} (available: {', '.join(ACTIVATIONS.names())})"
        )
    return v


def _bool(v: Any, key: str) -> Any:
    if not isinstance(v, bool):
        raise ConfigError(f"{key} must be true or false, got {v!r}")
    return v


def _rate(v: Any, key: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1:
        raise ConfigError(f"{key} must be a number in [0, 1), got {v!r}")
    return float(v)


def _momentum(v: Any, key: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise ConfigError(f"{key} must be a number in [0, 1] (Keras convention, 0.99 by default), got {v!r}")
    return float(v)


def _positive(v: Any, key: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
        raise ConfigError(f"{key} must be a number > 0, got {v!r}")
    return float(v)


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "filters": _int_min1,
    "units": _units,
    "kernel_size": _pair_param,
    "pool_size": _pair_param,
    "strides": _optional_pair,
    "padding": _padding,
    "activation": _activation,
    "name": _activation,
    "use_bias": _bool,
    "scale": _bool,
    "center": _bool,
    "groups": _int_min1,
    "depth_multiplier": _int_min1,
    "rate": _rate,
    "momentum": _momentum,
    "epsilon": _positive,
}


def _split_item(item: Any, where: str) -> tuple[str, dict[str, Any]]:
    """(type, params) of a layer item in any of its accepted spellings."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and "type" in item:
        params = dict(item)
        return str(params.pop("type")), params
    if isinstance(item, dict) and len(item) == 1:
        ((kind, params),) = item.items()
        if kind == "activation" and (params is None or isinstance(params, str)):
            params = {"name": params}  # `activation: relu` shorthand
        if params is None:
            params = {}
        list_key = LAYERS.get(kind).list_key if kind in LAYERS else None
        if isinstance(params, list) and list_key is not None:
            params = {list_key: params}  # `parallel: [[...], [...]]` shorthand
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.{kind}: the parameters must be a mapping, got {params!r}")
        return str(kind), params
    raise ConfigError(
        f"{where}: a layer is a name such as 'flatten' or a one-key mapping such as "
        f"{{conv2d: {{filters: 32, kernel_size: 3}}}}, got {item!r}"
    )


def normalize_layer(
    item: Any, index: int, num_classes: int | None = None, where: str | None = None
) -> dict[str, Any]:
    """Validate one layer item and return its flat, fully defaulted form.

    ``units: classes`` in a dense layer becomes ``num_classes`` when that is given. ``where`` is
    the item's path in messages (default ``model.layers[index]``; nested blocks pass their own).

    >>> normalize_layer({"maxpool2d": {"pool_size": 3}}, 0)
    {'type': 'maxpool2d', 'pool_size': 3, 'strides': 3, 'padding': 'valid'}
    """
    where = where or f"model.layers[{index}]"
    kind, params = _split_item(item, where)
    if kind not in LAYERS:
        near = closest(kind, LAYERS.names())
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        raise ConfigError(
            f"{where}: unknown layer type {kind!r}{hint} (available: {', '.join(LAYERS.names())})"
        )
    layer_type = LAYERS.get(kind)
    allowed = layer_type.params
    for key in params:
        if key not in allowed:
            near = closest(str(key), list(allowed))
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            listed = ", ".join(allowed) or "none"
            raise ConfigError(f"{where}.{key}: unknown parameter of {kind}{hint} (allowed: {listed})")
    out: dict[str, Any] = {"type": kind}
    for key, default in allowed.items():
        value = params.get(key, default)
        if value is _REQUIRED:
            raise ConfigError(f"{where}.{key} is required for {kind}")
        if key == "units" and value == "classes" and num_classes is not None:
            value = num_classes
        if key in layer_type.checks:
            # nested layer lists read as the YAML nests them: model.layers[3].residual.layers[0]
            nested = key in ("layers", "shortcut", "branches")
            path = (
                f"{where}.{kind}"
                if key == "branches"
                else f"{where}.{kind}.{key}"
                if nested
                else f"{where}.{key}"
            )
            out[key] = layer_type.checks[key](value, path, num_classes)
        else:
            out[key] = _CHECKS[key](value, f"{where}.{key}")
    if "pool_size" in out and out["strides"] is None:
        out["strides"] = out["pool_size"]  # Keras: strides default to the pool size
    return out


# ---- builders: (params, input shape, "model.layers[i]") -> (named parts, output shape) ----


def _pair(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _image(shape: Shape, desc: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ModelError(f"{desc}: needs an image input (CxHxW), got flat {format_shape(shape)}")
    return shape[0], shape[1], shape[2]


def _window(p: dict[str, Any], shape: Shape, desc: str, what: str) -> tuple[Any, ...]:
    """Shared conv/pool geometry: output size and the (left, right, top, bottom) padding."""
    c, h, w = _image(shape, desc)
    size = p["kernel_size"] if "kernel_size" in p else p["pool_size"]
    (kh, kw), (sh, sw) = _pair(size), _pair(p["strides"])
    if p["padding"] == "valid":
        if kh > h or kw > w:
            raise ModelError(f"{desc}: input {format_shape(shape)} is smaller than the {what}")
        return (kh, kw), (sh, sw), ((h - kh) // sh + 1, (w - kw) // sw + 1), (0, 0, 0, 0)
    (pt, pb), (pl, pr) = same_pads(h, kh, sh), same_pads(w, kw, sw)
    return (kh, kw), (sh, sw), (same_size(h, sh), same_size(w, sw)), (pl, pr, pt, pb)


def _symmetric(pads: tuple[int, int, int, int]) -> tuple[int, int] | None:
    left, right, top, bottom = pads
    return (top, left) if left == right and top == bottom else None


def _build_conv(p: dict[str, Any], shape: Shape, where: str) -> Built:
    k = _pair(p["kernel_size"])
    desc = f"{where} (conv2d {k[0]}x{k[1]}, {p['padding']})"
    kernel, stride, (oh, ow), pads = _window(p, shape, desc, "kernel")
    parts: list[tuple[str, nn.Module]] = []
    sym = _symmetric(pads)
    if sym is None:
        parts.append(("pad", nn.ZeroPad2d(pads)))
    groups = p["groups"]
    if shape[0] % groups or p["filters"] % groups:
        raise ModelError(
            f"{where}.groups: {groups} groups need input channels ({shape[0]}) and filters "
            f"({p['filters']}) divisible by {groups}"
        )
    conv = nn.Conv2d(
        shape[0], p["filters"], kernel, stride, padding=sym or 0, bias=p["use_bias"], groups=groups
    )
    parts.append(("conv", conv))
    if p["activation"] is not None:
        parts.append(("act", make_activation(p["activation"])))
    return parts, (p["filters"], oh, ow)


def _build_pool(kind: str) -> Callable[[dict[str, Any], Shape, str], Built]:
    def build(p: dict[str, Any], shape: Shape, where: str) -> Built:
        k = _pair(p["pool_size"])
        desc = f"{where} ({kind} {k[0]}x{k[1]}, {p['padding']})"
        kernel, stride, (oh, ow), pads = _window(p, shape, desc, "pool window")
        sym = _symmetric(pads)
        pool: nn.Module
        if kind == "maxpool2d":
            pool = nn.MaxPool2d(kernel, stride, sym) if sym else MaxPoolSame(kernel, stride, pads)
        elif sym:  # Keras 'same' average pooling ignores the padded zeros
            pool = nn.AvgPool2d(kernel, stride, sym, count_include_pad=False)
        else:
            pool = AvgPoolSame(kernel, stride, pads)
        return [("pool", pool)], (shape[0], oh, ow)

    return build


def _build_dense(p: dict[str, Any], shape: Shape, where: str) -> Built:
    if p["units"] == "classes":
        raise ModelError(f"{where}.units: 'classes' needs the number of classes; build it with build_model")
    if len(shape) != 1:
        raise ModelError(
            f"{where} (dense {p['units']}): input {format_shape(shape)} is not flat; "
            "add 'flatten' (or 'global_avgpool') before it"
        )
    parts: list[tuple[str, nn.Module]] = [("linear", nn.Linear(shape[0], p["units"], bias=p["use_bias"]))]
    if p["activation"] is not None:
        parts.append(("act", make_activation(p["activation"])))
    return parts, (p["units"],)


def _build_batchnorm(p: dict[str, Any], shape: Shape, where: str) -> Built:
    bn_cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    # Keras' momentum weighs the old running value; PyTorch's weighs the new batch.
    bn = bn_cls(shape[0], eps=p["epsilon"], momentum=1.0 - p["momentum"])
    # Keras' scale=False / center=False: no gamma / beta (InceptionV3 has no gamma); torch's batch
    # norm takes None for either.
    if not p["scale"]:
        bn.register_parameter("weight", None)
    if not p["center"]:
        bn.register_parameter("bias", None)
    return [("bn", bn)], shape


def _build_global_avgpool(p: dict[str, Any], shape: Shape, where: str) -> Built:
    c, _, _ = _image(shape, f"{where} (global_avgpool)")
    return [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())], (c,)


LAYERS.register("conv2d")(
    LayerType(
        {
            "filters": _REQUIRED,
            "kernel_size": _REQUIRED,
            "strides": 1,
            "padding": "valid",
            "activation": None,
            "use_bias": True,
            "groups": 1,
        },
        _build_conv,
    )
)
for _kind in ("maxpool2d", "avgpool2d"):
    LAYERS.register(_kind)(
        LayerType({"pool_size": 2, "strides": None, "padding": "valid"}, _build_pool(_kind))
    )
LAYERS.register("dense")(LayerType({"units": _REQUIRED, "activation": None, "use_bias": True}, _build_dense))
LAYERS.register("dropout")(
    LayerType({"rate": _REQUIRED}, lambda p, s, w: ([("drop", nn.Dropout(p["rate"]))], s))
)
LAYERS.register("batchnorm")(
    LayerType({"momentum": 0.99, "epsilon": 1e-3, "scale": True, "center": True}, _build_batchnorm)
)
LAYERS.register("flatten")(LayerType({}, lambda p, s, w: ([("flatten", nn.Flatten())], (math.prod(s),))))
LAYERS.register("global_avgpool")(LayerType({}, _build_global_avgpool))
LAYERS.register("activation")(
    LayerType({"name": _REQUIRED}, lambda p, s, w: ([("act", make_activation(p["name"]))], s))
)


def build_sequence(
    spec: list[dict[str, Any]], shape: Shape, where: str
) -> tuple[list[tuple[str, Layer]], list[Shape]]:
    """Build normalized layers in order from input ``shape``: named layers (``conv2d_1``, ...) and
    the output shape of each. ``where`` prefixes the messages (``model.layers`` -> ``[i]``)."""
    named: list[tuple[str, Layer]] = []
    shapes: list[Shape] = []
    counts: dict[str, int] = {}
    for i, p in enumerate(spec):
        built = LAYERS.get(p["type"]).build(p, shape, f"{where}[{i}]")
        if isinstance(built, Layer):
            layer = built
            shape = built.output_shape  # type: ignore[assignment]
        else:
            parts, shape = built
            layer = Layer(p["type"], parts)
        counts[p["type"]] = counts.get(p["type"], 0) + 1
        named.append((f"{p['type']}_{counts[p['type']]}", layer))
        shapes.append(shape)
    return named, shapes


def check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as a (C, H, W) tuple of positive ints, or a :class:`ModelError`."""
    shape = tuple(input_shape) if isinstance(input_shape, list | tuple) else ()
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ModelError(f"input_shape must be (C, H, W) with positive integer sizes, got {input_shape!r}")
    return shape[0], shape[1], shape[2]


def build_from_layers(
    layers: list[Any], input_shape: tuple[int, int, int], init: str | None = None
) -> LayerModel:
    """Build a :class:`LayerModel` from a layer list for inputs of shape (C, H, W).

    Args:
        layers: layer items, raw YAML form or normalized (as in ``model.layers_spec``).
        input_shape: (C, H, W) of one example.
        init: a weight-init name (see :func:`knobwise.models.list_inits`); None keeps PyTorch's.

    >>> import torch
    >>> m = build_from_layers(["flatten", {"dense": {"units": 2}}], (1, 2, 2))
    >>> m(torch.zeros(5, 1, 2, 2)).shape
    torch.Size([5, 2])
    """
    shape: Shape = check_input_shape(input_shape)
    if not isinstance(layers, list) or not layers:
        raise ConfigError(f"model.layers must be a non-empty list of layers, got {layers!r}")
    spec = [normalize_layer(item, i) for i, item in enumerate(layers)]
    named, shapes = build_sequence(spec, shape, "model.layers")
    shape = shapes[-1]
    model = LayerModel(named, spec, tuple(input_shape))
    model.layer_shapes, model.output_shape = shapes, shape
    if init is not None:
        apply_init(model, init)
    return model
