"""The model zoo (``model.name``) and the two entry points from a config: resolve and build.

A zoo entry is a function ``(num_classes, **options) -> layer list`` in the YAML vocabulary, so every
zoo model is also a layer list a user could have written (and ``model.json`` stores it as such).
An entry may take an ``input_shape`` keyword to adapt to the input (LeNet-5 on 28x28 MNIST), and
declares its natural input shape for ``knobwise summary MODEL``.

Example:
    >>> import torch
    >>> from knobwise.config import ModelConfig
    >>> model = build_model(ModelConfig(name="lenet5"), input_shape=(1, 32, 32), num_classes=10)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from knobwise.config import ModelConfig
from knobwise.errors import ConfigError, ModelError
from knobwise.models._layers import LayerModel, build_from_layers, check_input_shape, normalize_layer
from knobwise.registry import Registry, closest

__all__ = [
    "MODELS",
    "build_model",
    "default_input_shape",
    "default_num_classes",
    "list_models",
    "register_model",
    "resolve_layers",
]

ZooFn = Callable[..., list[Any]]

#: Zoo models by name; each returns a layer list.
MODELS: Registry[ZooFn] = Registry("model", key="model.name")
_INPUT_SHAPES: dict[str, tuple[int, int, int]] = {}
_NUM_CLASSES: dict[str, int] = {}


def register_model(
    name: str, *aliases: str, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None
) -> Callable[[ZooFn], ZooFn]:
    """Decorator adding a layer-list factory ``(num_classes, **options) -> list`` to the zoo.

    ``input_shape`` is the model's natural (C, H, W), used when no input shape is given;
    ``num_classes`` its natural number of classes (1000 for the ImageNet nets), used by
    ``knobwise summary MODEL`` when ``--classes`` is not given.

    Example (in your own module, before building ``model: {name: tiny}``)::

        @register_model("tiny", input_shape=(1, 4, 4))
        def tiny(num_classes: int) -> list:
            return ["flatten", {"dense": {"units": num_classes}}]
    """

    def deco(fn: ZooFn) -> ZooFn:
        MODELS.register(name, *aliases)(fn)
        for n in (name, *aliases):
            if input_shape is not None:
                _INPUT_SHAPES[n] = input_shape
            if num_classes is not None:
                _NUM_CLASSES[n] = num_classes
        return fn

    return deco


def list_models(pattern: str = "*") -> list[str]:
    """Zoo model names matching a shell-style ``pattern``.

    >>> list_models("keras_*")
    ['keras_cifar10_cnn', 'keras_mnist_cnn']
    """
    return MODELS.names(pattern)


def default_input_shape(name: str) -> tuple[int, int, int] | None:
    """The natural (C, H, W) input of zoo model ``name`` (None if it declares none)."""
    MODELS.get(name)  # unknown names raise a ConfigError with close matches
    return _INPUT_SHAPES.get(name)


def default_num_classes(name: str) -> int | None:
    """The natural number of classes of zoo model ``name`` (1000 for ImageNet nets; None if none).

    >>> default_num_classes("vgg16"), default_num_classes("lenet5")
    (1000, None)
    """
    MODELS.get(name)
    return _NUM_CLASSES.get(name)


def _call_zoo(name: str, num_classes: int, options: dict[str, Any], input_shape: Any) -> list[Any]:
    fn = MODELS.get(name)
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p not in ("num_classes", "input_shape")]
    for key in options:
        if key not in allowed:
            near = closest(key, allowed)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            listed = ", ".join(allowed) or "none"
            raise ConfigError(f"model.options.{key}: unknown option of {name}{hint} (allowed: {listed})")
    kwargs = dict(options)
    if "input_shape" in params:
        kwargs["input_shape"] = input_shape
    layers = fn(num_classes, **kwargs)
    return list(layers)


def resolve_layers(
    model_cfg: ModelConfig, num_classes: int, *, input_shape: tuple[int, int, int] | None = None
) -> list[dict[str, Any]]:
    """The normalized layer list of ``model_cfg``: a zoo model's list or the config's own.

    ``units: classes`` in a dense layer becomes ``num_classes``. ``input_shape`` is optional and only
    lets input-dependent zoo models adapt (``lenet5`` pads its first conv for 28x28).

    >>> [layer["type"] for layer in resolve_layers(ModelConfig(name="mlp"), 3)]
    ['flatten', 'dense', 'dense']
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    if model_cfg.name is not None:
        layers = _call_zoo(model_cfg.name, num_classes, model_cfg.options, input_shape)
    else:
        if model_cfg.options:
            raise ConfigError(
                "model.options only applies to zoo models (model.name); remove it or use model.name"
            )
        layers = list(model_cfg.layers or [])
    return [normalize_layer(item, i, num_classes) for i, item in enumerate(layers)]


def build_model(model_cfg: ModelConfig, input_shape: tuple[int, int, int], num_classes: int) -> LayerModel:
    """Build the classifier of ``model_cfg`` for (C, H, W) inputs and ``num_classes`` logits.

    The last layer must output ``num_classes`` values (``dense: {units: classes}`` does that).
    """
    shape = check_input_shape(input_shape)
    layers = resolve_layers(model_cfg, num_classes, input_shape=shape)
    model = build_from_layers(layers, shape, model_cfg.init)
    if model.output_shape != (num_classes,):
        out = "x".join(str(s) for s in model.output_shape)
        raise ModelError(
            f"model.layers[{len(layers) - 1}]: the model outputs {out} values but there are {num_classes} "
            f"classes; end the layer list with dense: {{units: {num_classes}}} (or units: classes)"
        )
    return model


# ---- the zoo ----


@register_model("mlp", input_shape=(1, 8, 8))
def mlp(
    num_classes: int, hidden: list[int] | None = None, activation: str = "relu", dropout: float = 0.0
) -> list:
    """A multilayer perceptron: flatten, then ``hidden`` dense layers (default [100]), then logits."""
    layers: list[Any] = ["flatten"]
    for units in [100] if hidden is None else hidden:
        layers.append({"dense": {"units": units, "activation": activation}})
        if dropout:
            layers.append({"dropout": {"rate": dropout}})
    return [*layers, {"dense": {"units": num_classes}}]


@register_model("digits_cnn", input_shape=(1, 8, 8))
def digits_cnn(num_classes: int) -> list:
    """knobwise's quickstart CNN for the 8x8 scikit-learn digits (>= 95% test accuracy in seconds).

    Two 'same' 3x3 convs keep the tiny image intact before one pooling; works for larger inputs too.
    """
    return [
        {"conv2d": {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}},
        {"conv2d": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}},
        {"maxpool2d": {"pool_size": 2}},
        "flatten",
        {"dense": {"units": 64, "activation": "relu"}},
        {"dropout": {"rate": 0.25}},
        {"dense": {"units": num_classes}},
    ]


@register_model("lenet5", input_shape=(1, 32, 32))
def lenet5(
    num_classes: int, pad_first: bool | str = "auto", input_shape: tuple[int, int, int] | None = None
) -> list:
    """LeNet-5 (LeCun et al. 1998, ~0.95% MNIST test error): tanh convs 6@5x5, 16@5x5, 120@5x5 with
    2x2 average pooling, FC 84, logits; 32x32 input.

    ``pad_first`` 'same'-pads the first conv so 28x28 MNIST fits, as LeNet-on-MNIST code does;
    ``auto`` does so when the input is smaller than 32x32.
    """
    if pad_first == "auto":
        pad_first = input_shape is not None and min(input_shape[1:]) < 32
    elif not isinstance(pad_first, bool):
        raise ConfigError(f"model.options.pad_first must be true, false or 'auto', got {pad_first!r}")
    return [
        {
            "conv2d": {
                "filters": 6,
                "kernel_size": 5,
                "activation": "tanh",
                "padding": "same" if pad_first else "valid",
            }
        },
        {"avgpool2d": {"pool_size": 2}},
        {"conv2d": {"filters": 16, "kernel_size": 5, "activation": "tanh"}},
        {"avgpool2d": {"pool_size": 2}},
        {"conv2d": {"filters": 120, "kernel_size": 5, "activation": "tanh"}},
        "flatten",
        {"dense": {"units": 84, "activation": "tanh"}},
        {"dense": {"units": num_classes}},
    ]


def _nielsen_convs(count: int, activation: str) -> list[Any]:
    """network3.py's ConvPoolLayer: valid 5x5 conv (20, then 40 filters) and 2x2 max-pool."""
    layers: list[Any] = []
    for filters in (20, 40)[:count]:
        layers.append({"conv2d": {"filters": filters, "kernel_size": 5, "activation": activation}})
        layers.append({"maxpool2d": {"pool_size": 2}})
    return layers


@register_model("fc100_sigmoid", input_shape=(1, 28, 28))
def fc100_sigmoid(num_classes: int) -> list:
    """Nielsen, Neural Networks and Deep Learning ch. 6 (network3.py): FC 100 sigmoid + softmax;
    reported 97.80% MNIST test accuracy (60 epochs, eta 0.1, mini-batch 10)."""
    return ["flatten", {"dense": {"units": 100, "activation": "sigmoid"}}, {"dense": {"units": num_classes}}]


@register_model("conv20_fc100_sigmoid", input_shape=(1, 28, 28))
def conv20_fc100_sigmoid(num_classes: int) -> list:
    """Nielsen ch. 6: conv 20x5x5 + max-pool 2, FC 100, all sigmoid; reported 98.78% on MNIST."""
    return [*_nielsen_convs(1, "sigmoid"), *fc100_sigmoid(num_classes)]


@register_model("conv20x2_fc100_sigmoid", input_shape=(1, 28, 28))
def conv20x2_fc100_sigmoid(num_classes: int) -> list:
    """Nielsen ch. 6: + second conv 40x5x5 + max-pool 2, sigmoid; reported 99.06% on MNIST."""
    return [*_nielsen_convs(2, "sigmoid"), *fc100_sigmoid(num_classes)]


@register_model("conv20x2_fc100_relu", input_shape=(1, 28, 28))
def conv20x2_fc100_relu(num_classes: int) -> list:
    """Nielsen ch. 6: the two-conv net with ReLU instead of sigmoid (eta 0.03, L2 0.1); reported
    99.23% on MNIST (99.37% with the training set expanded by 1-pixel shifts)."""
    return [
        *_nielsen_convs(2, "relu"),
        "flatten",
        {"dense": {"units": 100, "activation": "relu"}},
        {"dense": {"units": num_classes}},
    ]


@register_model("conv20x2_fc1000x2_dropout", input_shape=(1, 28, 28))
def conv20x2_fc1000x2_dropout(num_classes: int) -> list:
    """Nielsen ch. 6: two ReLU convs, then two FC 1000 ReLU with dropout 0.5 on the input of each
    fully connected layer (network3.py's p_dropout); reported 99.60% on MNIST (40 epochs), 99.67%
    for a plurality vote of five."""
    return [
        *_nielsen_convs(2, "relu"),
        "flatten",
        {"dropout": {"rate": 0.5}},
        {"dense": {"units": 1000, "activation": "relu"}},
        {"dropout": {"rate": 0.5}},
        {"dense": {"units": 1000, "activation": "relu"}},
        {"dropout": {"rate": 0.5}},
        {"dense": {"units": num_classes}},
    ]


def _conv(filters: int, padding: str) -> dict[str, Any]:
    return {"conv2d": {"filters": filters, "kernel_size": 3, "padding": padding, "activation": "relu"}}


def _drop(rate: float) -> dict[str, Any]:
    return {"dropout": {"rate": rate}}


def _head(num_classes: int) -> list[Any]:
    return [
        "flatten",
        {"dense": {"units": 256, "activation": "relu"}},
        _drop(0.35),
        {"dense": {"units": 128, "activation": "relu"}},
        _drop(0.25),
        {"dense": {"units": num_classes}},
    ]


@register_model("keras_mnist_cnn", input_shape=(1, 28, 28))
def keras_mnist_cnn(num_classes: int) -> list:
    """A Keras MNIST CNN (Adadelta, batch 512, 50 epochs, ReduceLROnPlateau, light augmentation):
    reported 99.63% MNIST test accuracy (37 errors) after 50 epochs, 97.53% after 3."""
    pool = {"maxpool2d": {"pool_size": 2}}
    return [
        *[_conv(32, "valid"), pool, _drop(0.2)],
        *[_conv(64, "same"), pool, _drop(0.25)],
        *[_conv(128, "same"), pool, _drop(0.3)],
        *[_conv(256, "same"), _drop(0.4)],
        *[_conv(512, "same"), _drop(0.5)],
        *_head(num_classes),
    ]


@register_model("keras_cifar10_cnn", input_shape=(3, 32, 32))
def keras_cifar10_cnn(num_classes: int) -> list:
    """A Keras CIFAR-10 CNN (Adadelta, batch 512, 50 epochs, ReduceLROnPlateau, flips and shifts):
    reported 83.85% CIFAR-10 test accuracy after 50 epochs, 20.71% after 3."""
    pool = {"maxpool2d": {"pool_size": 2}}
    return [
        *[_conv(64, "valid"), _conv(64, "valid"), pool, _drop(0.25)],
        *[_conv(128, "same"), _conv(128, "same"), pool, _drop(0.25)],
        *[_conv(256, "same"), _conv(256, "same"), pool, _drop(0.35)],
        *_head(num_classes),
    ]
