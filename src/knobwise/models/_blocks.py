"""Blocks of the layer list beyond a straight line: ``residual``, ``parallel``/``concat``/``add``,
and the layers the landmark CNNs need (``separable_conv2d``, ``depthwise_conv2d``, ``l2pool2d``,
``zero_padding2d``, ``global_maxpool``).

A block holds nested layer lists, normalized and built with the same vocabulary, so blocks nest.
Messages name the path the YAML nests: ``model.layers[3].residual.layers[0]``,
``model.layers[5].parallel[1][0]``.

Example:
    >>> import torch
    >>> from knobwise.models._layers import build_from_layers
    >>> model = build_from_layers(
    ...     [
    ...         {"residual": {"layers": [{"conv2d": {"filters": 8, "kernel_size": 3, "padding": "same"}}]}},
    ...         {"parallel": [[{"conv2d": {"filters": 2, "kernel_size": 1}}], [{"maxpool2d": {"pool_size": 3,
    ...             "strides": 1, "padding": "same"}}]]},
    ...         "global_avgpool",
    ...     ],
    ...     (4, 6, 6),
    ... )
    >>> model.layer_shapes
    [(8, 6, 6), (10, 6, 6), (10,)]
    >>> model(torch.zeros(2, 4, 6, 6)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from knobwise.errors import ConfigError, ModelError
from knobwise.models._layers import (
    _REQUIRED,
    LAYERS,
    Built,
    Layer,
    LayerType,
    Shape,
    _image,
    _pair,
    _symmetric,
    _window,
    build_sequence,
    format_shape,
    normalize_layer,
)
from knobwise.models._ops import make_activation

__all__ = ["Parallel", "Residual"]


#: Named shortcuts of a residual block: auto (identity when the shapes match, else projection),
#: identity, projection (1x1 conv, + batch norm when the block uses it), pad (ResNet option A:
#: subsample and zero-pad the new channels, no parameters).
_SHORTCUTS = ("auto", "identity", "projection", "pad")


# ---- nested lists: normalized with the same vocabulary, paths as the YAML nests them ----


def _layer_list(v: Any, key: str, num_classes: int | None, allow_empty: bool = False) -> list[dict[str, Any]]:
    if not isinstance(v, list) or (not v and not allow_empty):
        raise ConfigError(f"{key} must be a {'' if allow_empty else 'non-empty '}list of layers, got {v!r}")
    return [normalize_layer(item, j, num_classes, where=f"{key}[{j}]") for j, item in enumerate(v)]


def _shortcut(v: Any, key: str, num_classes: int | None) -> Any:
    if v in _SHORTCUTS:
        return v
    if isinstance(v, list):
        return _layer_list(v, key, num_classes, allow_empty=True)
    raise ConfigError(
        f"{key} must be {', '.join(repr(s) for s in _SHORTCUTS)} or a list of layers, got {v!r}"
    )


def _branches(v: Any, key: str, num_classes: int | None) -> list[list[dict[str, Any]]]:
    if not isinstance(v, list) or len(v) < 2 or not all(isinstance(b, list) for b in v):
        raise ConfigError(f"{key} must be a list of at least two branches, each a list of layers, got {v!r}")
    # an empty branch passes its input through (the identity of an `add`)
    return [_layer_list(b, f"{key}[{i}]", num_classes, allow_empty=True) for i, b in enumerate(v)]


def _scale(v: Any, key: str, num_classes: int | None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
        raise ConfigError(f"{key} must be a number > 0, got {v!r}")
    return float(v)


def _zero_pads(v: Any, key: str, num_classes: int | None) -> list[int]:
    """Keras ZeroPadding2D: p, [h, w] or [[top, bottom], [left, right]] -> [top, bottom, left, right]."""
    ok = lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0  # noqa: E731
    if ok(v):
        return [v, v, v, v]
    if isinstance(v, list) and len(v) == 2 and all(ok(x) for x in v):
        return [v[0], v[0], v[1], v[1]]
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, list) and len(x) == 2 for x in v):
        flat = [*v[0], *v[1]]
        if all(ok(x) for x in flat):
            return flat
    if isinstance(v, list) and len(v) == 4 and all(ok(x) for x in v):
        return list(v)  # the normalized form
    raise ConfigError(
        f"{key} must be an integer >= 0, [height, width] or [[top, bottom], [left, right]], got {v!r}"
    )


# ---- block modules ----


def _sequential(named: list[tuple[str, Layer]]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(named))


class Residual(Layer):
    """``y = act(shortcut(x) + scale * F(x))``: ``layers`` is F; the shortcut is the identity, a
    projection or a layer list of its own."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module, act: nn.Module, scale: float) -> None:
        super().__init__("residual", [("layers", body), ("shortcut", shortcut), ("act", act)])
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body, shortcut, act = self  # the three children, in order
        residual = body(x)
        if self.scale != 1.0:  # Inception-ResNet scales the residual before the sum
            residual = residual * self.scale
        return act(shortcut(x) + residual)


class PadShortcut(nn.Module):
    """ResNet's option-A shortcut: keep every ``stride``-th pixel, zero-pad the new channels."""

    def __init__(self, stride: int, before: int, after: int) -> None:
        super().__init__()
        self.stride, self.before, self.after = stride, before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.before, self.after))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, channels=+{self.before}+{self.after}"


class Parallel(Layer):
    """Branches on the same input, concatenated on channels (``concat``) or summed (``add``)."""

    def __init__(self, kind: str, branches: list[nn.Sequential], merge: str) -> None:
        super().__init__(kind, [(f"branch_{i}", b) for i, b in enumerate(branches)])
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self]
        if self.merge == "add":
            total = outs[0]
            for out in outs[1:]:
                total = total + out
            return total
        return torch.cat(outs, dim=1)


# ---- builders ----


def _stride(shape: Shape, out: Shape, where: str, what: str) -> int:
    """The stride that takes ``shape`` to ``out``'s height and width (ceil(n / s), as 'same')."""
    _, h, w = _image(shape, where)
    _, oh, ow = _image(out, where)
    stride = next((s for s in range(1, max(h, w) + 1) if -(-h // s) == oh and -(-w // s) == ow), None)
    if stride is None:
        raise ModelError(
            f"{where}: no {what} maps {format_shape(shape)} to {format_shape(out)}; "
            "give shortcut: [layers] explicitly"
        )
    return stride


def _pad_shortcut(shape: Shape, out: Shape, where: str) -> PadShortcut:
    stride = _stride(shape, out, where, "subsampling shortcut")
    extra = out[0] - shape[0]
    if extra < 0:
        raise ModelError(
            f"{where}: shortcut pad cannot reduce {shape[0]} channels to {out[0]}; use shortcut: projection"
        )
    return PadShortcut(stride, extra // 2, extra - extra // 2)


def _projection(shape: Shape, out: Shape, with_bn: bool, where: str) -> tuple[list[tuple[str, Layer]], Shape]:
    """The 1x1 projection shortcut from ``shape`` to ``out``: a strided conv (+ batch norm)."""
    stride = _stride(shape, out, where, "1x1 projection")
    oc = out[0]
    spec: list[Any] = [
        {
            "conv2d": {
                "filters": oc,
                "kernel_size": 1,
                "strides": stride,
                "padding": "same",
                "use_bias": not with_bn,
            }
        }
    ]
    if with_bn:
        spec.append("batchnorm")
    normalized = [normalize_layer(item, j, where=f"{where}[{j}]") for j, item in enumerate(spec)]
    named, shapes = build_sequence(normalized, shape, where)
    return named, shapes[-1]


def _build_residual(p: dict[str, Any], shape: Shape, where: str) -> Layer:
    body, shapes = build_sequence(p["layers"], shape, f"{where}.residual.layers")
    out = shapes[-1]
    sc_where = f"{where}.residual.shortcut"
    mode = p["shortcut"]
    if isinstance(mode, list):
        named, sc_shapes = build_sequence(mode, shape, sc_where)
        sc_out = sc_shapes[-1] if sc_shapes else shape
        shortcut: nn.Module = _sequential(named)
    elif mode == "identity" or (mode == "auto" and out == shape):
        shortcut, sc_out = nn.Identity(), shape
    elif mode == "pad":
        shortcut, sc_out = _pad_shortcut(shape, out, sc_where), out
    else:  # projection: with batch norm when the residual branch uses it (ResNet option B)
        with_bn = any(layer["type"] == "batchnorm" for layer in p["layers"])
        named, sc_out = _projection(shape, out, with_bn, sc_where)
        shortcut = _sequential(named)
    if sc_out != out:
        raise ModelError(
            f"{where}.residual: the layers output {format_shape(out)} but the shortcut outputs "
            f"{format_shape(sc_out)}; the sum needs equal shapes (shortcut: auto projects)"
        )
    block = Residual(_sequential(body), shortcut, make_activation(p["activation"]), p["scale"])
    block.output_shape = out  # type: ignore[assignment]
    return block


def _build_parallel(p: dict[str, Any], shape: Shape, where: str) -> Layer:
    kind = p["type"]
    merge = "add" if kind == "add" else "concat"
    branches: list[nn.Sequential] = []
    outs: list[Shape] = []
    for i, spec in enumerate(p["branches"]):
        named, shapes = build_sequence(spec, shape, f"{where}.{kind}[{i}]")
        branches.append(_sequential(named))
        outs.append(shapes[-1] if shapes else shape)
    first = outs[0]
    for i, out in enumerate(outs[1:], start=1):
        if merge == "add" and out != first:
            raise ModelError(
                f"{where}.{kind}[{i}]: outputs {format_shape(out)} but branch 0 outputs "
                f"{format_shape(first)}; add needs equal shapes"
            )
        if merge == "concat" and (len(out) != len(first) or out[1:] != first[1:]):
            raise ModelError(
                f"{where}.{kind}[{i}]: outputs {format_shape(out)} but branch 0 outputs "
                f"{format_shape(first)}; concatenation on channels needs equal height and width "
                "(use padding: same, or the same strides in every branch)"
            )
    total: Shape = first if merge == "add" else (sum(o[0] for o in outs), *first[1:])
    block = Parallel(kind, branches, merge)
    block.output_shape = total  # type: ignore[assignment]
    return block


def _build_depthwise(separable: bool) -> Any:
    def build(p: dict[str, Any], shape: Shape, where: str) -> Built:
        k = _pair(p["kernel_size"])
        kind = "separable_conv2d" if separable else "depthwise_conv2d"
        desc = f"{where} ({kind} {k[0]}x{k[1]}, {p['padding']})"
        kernel, stride, (oh, ow), pads = _window(p, shape, desc, "kernel")
        c, dm = shape[0], p["depth_multiplier"]
        parts: list[tuple[str, nn.Module]] = []
        sym = _symmetric(pads)
        if sym is None:
            parts.append(("pad", nn.ZeroPad2d(pads)))
        bias_here = p["use_bias"] and not separable  # a separable conv's bias sits on the pointwise conv
        parts.append(("depthwise", nn.Conv2d(c, c * dm, kernel, stride, sym or 0, groups=c, bias=bias_here)))
        out_c = c * dm
        if separable:
            parts.append(("pointwise", nn.Conv2d(c * dm, p["filters"], 1, bias=p["use_bias"])))
            out_c = p["filters"]
        if p["activation"] is not None:
            parts.append(("act", make_activation(p["activation"])))
        return parts, (out_c, oh, ow)

    return build


def _build_l2pool(p: dict[str, Any], shape: Shape, where: str) -> Built:
    k = _pair(p["pool_size"])
    desc = f"{where} (l2pool2d {k[0]}x{k[1]}, {p['padding']})"
    kernel, stride, (oh, ow), pads = _window(p, shape, desc, "pool window")
    parts: list[tuple[str, nn.Module]] = []
    if any(pads):  # padded zeros add nothing to the sum of squares
        parts.append(("pad", nn.ZeroPad2d(pads)))
    parts.append(("pool", nn.LPPool2d(2, kernel, stride)))  # sqrt of the window's sum of squares
    return parts, (shape[0], oh, ow)


def _build_zero_padding(p: dict[str, Any], shape: Shape, where: str) -> Built:
    c, h, w = _image(shape, f"{where} (zero_padding2d)")
    top, bottom, left, right = p["padding"]
    return [("pad", nn.ZeroPad2d((left, right, top, bottom)))], (c, h + top + bottom, w + left + right)


def _build_global_maxpool(p: dict[str, Any], shape: Shape, where: str) -> Built:
    c, _, _ = _image(shape, f"{where} (global_maxpool)")
    return [("pool", nn.AdaptiveMaxPool2d(1)), ("flatten", nn.Flatten())], (c,)


_CONV = {"kernel_size": _REQUIRED, "strides": 1, "padding": "valid", "depth_multiplier": 1}
LAYERS.register("residual")(
    LayerType(
        {"layers": _REQUIRED, "shortcut": "auto", "activation": None, "scale": 1.0},
        _build_residual,
        checks={"layers": _layer_list, "shortcut": _shortcut, "scale": _scale},
        list_key="layers",
    )
)
for _kind in ("parallel", "concat", "add"):
    LAYERS.register(_kind)(
        LayerType(
            {"branches": _REQUIRED}, _build_parallel, checks={"branches": _branches}, list_key="branches"
        )
    )
LAYERS.register("separable_conv2d")(
    LayerType(
        {"filters": _REQUIRED, **_CONV, "activation": None, "use_bias": True},
        _build_depthwise(separable=True),
    )
)
LAYERS.register("depthwise_conv2d")(
    LayerType({**_CONV, "activation": None, "use_bias": True}, _build_depthwise(separable=False))
)
LAYERS.register("l2pool2d")(LayerType({"pool_size": 2, "strides": None, "padding": "valid"}, _build_l2pool))
LAYERS.register("zero_padding2d")(
    LayerType({"padding": 1}, _build_zero_padding, checks={"padding": _zero_pads})
)
LAYERS.register("global_maxpool")(LayerType({}, _build_global_maxpool))
