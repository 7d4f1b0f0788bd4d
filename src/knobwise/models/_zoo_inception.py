"""Branching landmark CNNs of the zoo: Inception-v3, Xception and Inception-ResNet-v2.

Each follows Keras Applications layer for layer (the TF-slim structure Keras uses), so with 1000
classes at 299x299 the parameter counts equal Keras's: InceptionV3 23,851,784, Xception
22,910,480, InceptionResNetV2 55,873,736 (batch-norm running statistics counted as Keras counts
them, non-trainable). Inception modules are ``parallel`` blocks, Xception's and Inception-ResNet's
shortcuts are ``residual`` blocks; they need at least 75x75 (Xception 71x71) inputs.

Example:
    >>> from knobwise.models._zoo import resolve_layers
    >>> from knobwise.config import ModelConfig
    >>> [layer["type"] for layer in resolve_layers(ModelConfig(name="inception_v3"), 10)][-4:]
    ['parallel', 'parallel', 'global_avgpool', 'dense']
"""

from __future__ import annotations

from typing import Any

from knobwise.models._zoo import register_model

__all__: list[str] = []

SIZE_299 = (3, 299, 299)


def _cbn(
    filters: int,
    k: int | list[int],
    strides: int = 1,
    padding: str = "same",
    activation: str | None = "relu",
) -> list[Any]:
    """Keras' ``conv2d_bn`` of the Inception nets: conv without bias, batch norm without gamma
    (``scale=False``), ReLU."""
    layers: list[Any] = [
        {
            "conv2d": {
                "filters": filters,
                "kernel_size": k,
                "strides": strides,
                "padding": padding,
                "use_bias": False,
            }
        },  # fmt: skip
        {"batchnorm": {"scale": False}},
    ]
    if activation is not None:
        layers.append({"activation": activation})
    return layers


def _avg_branch(filters: int) -> list[Any]:
    return [{"avgpool2d": {"pool_size": 3, "strides": 1, "padding": "same"}}, *_cbn(filters, 1)]


def _max_branch() -> list[Any]:
    return [{"maxpool2d": {"pool_size": 3, "strides": 2}}]


def _stem() -> list[Any]:
    return [
        *_cbn(32, 3, 2, "valid"),
        *_cbn(32, 3, padding="valid"),
        *_cbn(64, 3),
        {"maxpool2d": {"pool_size": 3, "strides": 2}},
        *_cbn(80, 1, padding="valid"),
        *_cbn(192, 3, padding="valid"),
        {"maxpool2d": {"pool_size": 3, "strides": 2}},
    ]


def _mixed_35(pool_filters: int) -> dict[str, Any]:
    return {
        "parallel": [
            _cbn(64, 1),
            [*_cbn(48, 1), *_cbn(64, 5)],
            [*_cbn(64, 1), *_cbn(96, 3), *_cbn(96, 3)],
            _avg_branch(pool_filters),
        ]
    }


def _mixed_17(c: int) -> dict[str, Any]:
    return {
        "parallel": [
            _cbn(192, 1),
            [*_cbn(c, 1), *_cbn(c, [1, 7]), *_cbn(192, [7, 1])],
            [*_cbn(c, 1), *_cbn(c, [7, 1]), *_cbn(c, [1, 7]), *_cbn(c, [7, 1]), *_cbn(192, [1, 7])],
            _avg_branch(192),
        ]
    }


def _split_1x3_3x1() -> dict[str, Any]:
    return {"parallel": [_cbn(384, [1, 3]), _cbn(384, [3, 1])]}


@register_model("inception_v3", input_shape=SIZE_299, num_classes=1000)
def inception_v3(num_classes: int) -> list:
    """Inception-v3 (Szegedy et al. 2015), as Keras Applications' ``InceptionV3``: 23,851,784
    parameters with 1000 classes at 299x299 (no auxiliary classifier)."""
    return [
        *_stem(),
        _mixed_35(32),
        _mixed_35(64),
        _mixed_35(64),
        {
            "parallel": [
                _cbn(384, 3, 2, "valid"),
                [*_cbn(64, 1), *_cbn(96, 3), *_cbn(96, 3, 2, "valid")],
                _max_branch(),
            ]
        },
        _mixed_17(128),
        _mixed_17(160),
        _mixed_17(160),
        _mixed_17(192),
        {
            "parallel": [
                [*_cbn(192, 1), *_cbn(320, 3, 2, "valid")],
                [*_cbn(192, 1), *_cbn(192, [1, 7]), *_cbn(192, [7, 1]), *_cbn(192, 3, 2, "valid")],
                _max_branch(),
            ]
        },
        *[
            {
                "parallel": [
                    _cbn(320, 1),
                    [*_cbn(384, 1), _split_1x3_3x1()],
                    [*_cbn(448, 1), *_cbn(384, 3), _split_1x3_3x1()],
                    _avg_branch(192),
                ]
            }
            for _ in range(2)
        ],
        "global_avgpool",
        {"dense": {"units": num_classes}},
    ]


def _sep(filters: int) -> dict[str, Any]:
    return {"separable_conv2d": {"filters": filters, "kernel_size": 3, "padding": "same", "use_bias": False}}


RELU = {"activation": "relu"}


def _xception_down(filters: tuple[int, int], first_relu: bool) -> dict[str, Any]:
    """An entry/exit-flow block: (ReLU,) sepconv, BN, ReLU, sepconv, BN, 3x3/2 max-pool, plus a
    strided 1x1 conv + BN shortcut; no activation after the sum (the next block starts with one)."""
    body = [
        *([RELU] if first_relu else []),
        _sep(filters[0]),
        "batchnorm",
        RELU,
        _sep(filters[1]),
        "batchnorm",
        {"maxpool2d": {"pool_size": 3, "strides": 2, "padding": "same"}},
    ]
    shortcut = [
        {
            "conv2d": {
                "filters": filters[1],
                "kernel_size": 1,
                "strides": 2,
                "padding": "same",
                "use_bias": False,
            }
        },
        "batchnorm",
    ]
    return {"residual": {"layers": body, "shortcut": shortcut}}


@register_model("xception", input_shape=SIZE_299, num_classes=1000)
def xception(num_classes: int) -> list:
    """Xception (Chollet 2017), as Keras Applications' ``Xception``: depthwise separable convs
    with residual shortcuts; 22,910,480 parameters with 1000 classes at 299x299."""
    no_bias = {"use_bias": False}
    middle = {
        "residual": {
            "layers": [x for _ in range(3) for x in (RELU, _sep(728), "batchnorm")],
            "shortcut": "identity",
        }
    }
    return [
        {"conv2d": {"filters": 32, "kernel_size": 3, "strides": 2, **no_bias}},
        "batchnorm",
        RELU,
        {"conv2d": {"filters": 64, "kernel_size": 3, **no_bias}},
        "batchnorm",
        RELU,
        _xception_down((128, 128), first_relu=False),
        _xception_down((256, 256), first_relu=True),
        _xception_down((728, 728), first_relu=True),
        *[middle for _ in range(8)],
        _xception_down((728, 1024), first_relu=True),
        _sep(1536),
        "batchnorm",
        RELU,
        _sep(2048),
        "batchnorm",
        RELU,
        "global_avgpool",
        {"dense": {"units": num_classes}},
    ]


def _ir_block(kind: str, channels: int, scale: float, activation: str | None = "relu") -> dict[str, Any]:
    """An Inception-ResNet block: branches concatenated, a 1x1 conv with bias back to ``channels``,
    ``x + scale * that``, then the activation."""
    branches = {
        "block35": [_cbn(32, 1), [*_cbn(32, 1), *_cbn(32, 3)], [*_cbn(32, 1), *_cbn(48, 3), *_cbn(64, 3)]],
        "block17": [_cbn(192, 1), [*_cbn(128, 1), *_cbn(160, [1, 7]), *_cbn(192, [7, 1])]],
        "block8": [_cbn(192, 1), [*_cbn(192, 1), *_cbn(224, [1, 3]), *_cbn(256, [3, 1])]],
    }[kind]
    up = {"conv2d": {"filters": channels, "kernel_size": 1, "padding": "same", "use_bias": True}}
    return {
        "residual": {
            "layers": [{"parallel": branches}, up],
            "shortcut": "identity",
            "scale": scale,
            "activation": activation,
        }
    }


@register_model("inception_resnet_v2", input_shape=SIZE_299, num_classes=1000)
def inception_resnet_v2(num_classes: int) -> list:
    """Inception-ResNet-v2 (Szegedy et al. 2016), as Keras Applications' ``InceptionResNetV2``:
    55,873,736 parameters with 1000 classes at 299x299."""
    return [
        *_stem(),
        {
            "parallel": [
                _cbn(96, 1),
                [*_cbn(48, 1), *_cbn(64, 5)],
                [*_cbn(64, 1), *_cbn(96, 3), *_cbn(96, 3)],
                _avg_branch(64),
            ]
        },
        *[_ir_block("block35", 320, 0.17) for _ in range(10)],
        {
            "parallel": [
                _cbn(384, 3, 2, "valid"),
                [*_cbn(256, 1), *_cbn(256, 3), *_cbn(384, 3, 2, "valid")],
                _max_branch(),
            ]
        },
        *[_ir_block("block17", 1088, 0.1) for _ in range(20)],
        {
            "parallel": [
                [*_cbn(256, 1), *_cbn(384, 3, 2, "valid")],
                [*_cbn(256, 1), *_cbn(288, 3, 2, "valid")],
                [*_cbn(256, 1), *_cbn(288, 3), *_cbn(320, 3, 2, "valid")],
                _max_branch(),
            ]
        },
        *[_ir_block("block8", 2080, 0.2) for _ in range(9)],
        _ir_block("block8", 2080, 1.0, activation=None),
        *_cbn(1536, 1),
        "global_avgpool",
        {"dense": {"units": num_classes}},
    ]
