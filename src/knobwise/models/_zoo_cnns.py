"""Landmark CNNs of the zoo: AlexNet, VGG-16/19, ResNet-18/34/50, ResNeXt-50 and the CIFAR ResNets.

Each is a layer list in the YAML vocabulary (blocks included), with ``num_classes`` logits; the
softmax stays in the loss. With 1000 classes at the original input size the parameter counts equal
the reference named in each docstring (Keras Applications where Keras has the net, else
torchvision; torchvision counts parameters only, so there the trainable count is compared).

Example:
    >>> from knobwise.config import ModelConfig
    >>> from knobwise.models._zoo import build_model
    >>> model = build_model(ModelConfig(name="resnet20_cifar"), (3, 32, 32), 10)
    >>> sum(p.numel() for p in model.parameters())
    269722
"""

from __future__ import annotations

from typing import Any

from knobwise.errors import ConfigError
from knobwise.models._zoo import register_model

__all__: list[str] = []

IMAGENET = (3, 224, 224)


def _conv(
    filters: int, k: int | list[int], strides: int = 1, padding: str = "same", bias: bool = True, **kw: Any
) -> dict[str, Any]:
    return {"conv2d": {"filters": filters, "kernel_size": k, "strides": strides, "padding": padding,
                       "use_bias": bias, **kw}}  # fmt: skip


def _bn(epsilon: float = 1e-5, momentum: float = 0.9) -> dict[str, Any]:
    # torch's defaults (eps 1e-5, new-batch weight 0.1) in Keras' convention (momentum 0.9)
    return {"batchnorm": {"epsilon": epsilon, "momentum": momentum}}


RELU = {"activation": "relu"}


@register_model("alexnet", input_shape=IMAGENET, num_classes=1000)
def alexnet(num_classes: int) -> list:
    """AlexNet (Krizhevsky et al. 2012) as torchvision builds it (one tower, 64-192-384-256-256
    filters, no local response normalization): 61,100,840 parameters with 1000 classes at 224x224,
    torchvision's ``alexnet`` count. The 11x11/4 conv's padding of 2 is an explicit zero padding."""
    pool = {"maxpool2d": {"pool_size": 3, "strides": 2}}
    return [
        {"zero_padding2d": {"padding": 2}},
        _conv(64, 11, 4, "valid", activation="relu"),
        pool,
        _conv(192, 5, activation="relu"),
        pool,
        _conv(384, 3, activation="relu"),
        _conv(256, 3, activation="relu"),
        _conv(256, 3, activation="relu"),
        pool,
        "flatten",
        {"dropout": {"rate": 0.5}},
        {"dense": {"units": 4096, "activation": "relu"}},
        {"dropout": {"rate": 0.5}},
        {"dense": {"units": 4096, "activation": "relu"}},
        {"dense": {"units": num_classes}},
    ]


def _vgg(convs: list[int], num_classes: int) -> list:
    layers: list[Any] = []
    for count, filters in zip(convs, (64, 128, 256, 512, 512), strict=True):
        layers += [_conv(filters, 3, activation="relu") for _ in range(count)]
        layers.append({"maxpool2d": {"pool_size": 2}})
    return [
        *layers,
        "flatten",
        {"dense": {"units": 4096, "activation": "relu"}},
        {"dense": {"units": 4096, "activation": "relu"}},
        {"dense": {"units": num_classes}},
    ]


@register_model("vgg16", input_shape=IMAGENET, num_classes=1000)
def vgg16(num_classes: int) -> list:
    """VGG-16 (Simonyan & Zisserman 2014), as Keras Applications' ``VGG16``: 13 3x3 convs in five
    max-pooled stages, two FC 4096; 138,357,544 parameters with 1000 classes at 224x224."""
    return _vgg([2, 2, 3, 3, 3], num_classes)


@register_model("vgg19", input_shape=IMAGENET, num_classes=1000)
def vgg19(num_classes: int) -> list:
    """VGG-19, as Keras Applications' ``VGG19``: 16 3x3 convs, two FC 4096; 143,667,240
    parameters with 1000 classes at 224x224."""
    return _vgg([2, 2, 4, 4, 4], num_classes)


def _torch_stem() -> list[Any]:
    """torchvision's ResNet stem: 7x7/2 conv (padding 3), batch norm, ReLU, 3x3/2 max-pool (padding
    1; zero padding equals torch's -inf padding after a ReLU)."""
    return [
        {"zero_padding2d": {"padding": 3}},
        _conv(64, 7, 2, "valid", bias=False),
        _bn(),
        RELU,
        {"zero_padding2d": {"padding": 1}},
        {"maxpool2d": {"pool_size": 3, "strides": 2}},
    ]


def _projection(filters: int, stride: int, bias: bool = False, epsilon: float = 1e-5) -> list[Any]:
    return [_conv(filters, 1, stride, bias=bias), _bn(epsilon)]


def _basic_block(filters: int, stride: int, project: bool) -> dict[str, Any]:
    """ResNet's basic block: two 3x3 convs, identity or 1x1 projection shortcut, ReLU after the sum."""
    body = [_conv(filters, 3, stride, bias=False), _bn(), RELU, _conv(filters, 3, bias=False), _bn()]
    shortcut: Any = _projection(filters, stride) if project else "identity"
    return {"residual": {"layers": body, "shortcut": shortcut, "activation": "relu"}}


def _torch_resnet(blocks: list[int], num_classes: int) -> list:
    layers: list[Any] = _torch_stem()
    channels = 64
    for stage, count in enumerate(blocks):
        filters = 64 * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(_basic_block(filters, stride, stride != 1 or channels != filters))
            channels = filters
    return [*layers, "global_avgpool", {"dense": {"units": num_classes}}]


@register_model("resnet18", input_shape=IMAGENET, num_classes=1000)
def resnet18(num_classes: int) -> list:
    """ResNet-18 (He et al. 2015), as torchvision's ``resnet18`` (Keras has none): basic blocks
    [2, 2, 2, 2], convs without bias; 11,689,512 trainable parameters with 1000 classes (torchvision's
    count; the total adds the batch-norm running statistics, 9,600)."""
    return _torch_resnet([2, 2, 2, 2], num_classes)


@register_model("resnet34", input_shape=IMAGENET, num_classes=1000)
def resnet34(num_classes: int) -> list:
    """ResNet-34, as torchvision's ``resnet34``: basic blocks [3, 4, 6, 3]; 21,797,672 trainable
    parameters with 1000 classes (torchvision's count)."""
    return _torch_resnet([3, 4, 6, 3], num_classes)


@register_model("resnet50", input_shape=IMAGENET, num_classes=1000)
def resnet50(num_classes: int) -> list:
    """ResNet-50, as Keras Applications' ``ResNet50`` (conv biases kept, the stride on the first 1x1
    conv of a stage, batch-norm epsilon 1.001e-5): bottleneck blocks [3, 4, 6, 3]; 25,636,712
    parameters with 1000 classes at 224x224 (53,120 of them running statistics)."""
    eps = 1.001e-5
    layers: list[Any] = [
        {"zero_padding2d": {"padding": 3}},
        _conv(64, 7, 2, "valid"),
        _bn(eps, 0.99),
        RELU,
        {"zero_padding2d": {"padding": 1}},
        {"maxpool2d": {"pool_size": 3, "strides": 2}},
    ]
    for stage, count in enumerate([3, 4, 6, 3]):
        filters = 64 * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            body = [
                _conv(filters, 1, stride, "valid"),
                _bn(eps, 0.99),
                RELU,
                _conv(filters, 3),
                _bn(eps, 0.99),
                RELU,
                _conv(4 * filters, 1, padding="valid"),
                _bn(eps, 0.99),
            ]
            shortcut: Any = "identity"
            if i == 0:
                shortcut = [_conv(4 * filters, 1, stride, "valid"), _bn(eps, 0.99)]
            layers.append({"residual": {"layers": body, "shortcut": shortcut, "activation": "relu"}})
    return [*layers, "global_avgpool", {"dense": {"units": num_classes}}]


@register_model("resnext50", input_shape=IMAGENET, num_classes=1000)
def resnext50(num_classes: int, cardinality: int = 32, width_per_group: int = 4) -> list:
    """ResNeXt-50 32x4d (Xie et al. 2017), as torchvision's ``resnext50_32x4d`` (Keras has none):
    bottlenecks whose 3x3 conv is grouped (``cardinality`` groups of ``width_per_group`` channels
    per 64 planes); 25,028,904 trainable parameters with 1000 classes (torchvision's count)."""
    for key, value in (("cardinality", cardinality), ("width_per_group", width_per_group)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"model.options.{key} must be an integer >= 1, got {value!r}")
    layers: list[Any] = _torch_stem()
    channels = 64
    for stage, count in enumerate([3, 4, 6, 3]):
        planes = 64 * 2**stage
        width = planes * width_per_group // 64 * cardinality
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            body = [
                _conv(width, 1, bias=False),
                _bn(),
                RELU,
                _conv(width, 3, stride, bias=False, groups=cardinality),
                _bn(),
                RELU,
                _conv(4 * planes, 1, bias=False),
                _bn(),
            ]
            project = stride != 1 or channels != 4 * planes
            shortcut: Any = _projection(4 * planes, stride) if project else "identity"
            layers.append({"residual": {"layers": body, "shortcut": shortcut, "activation": "relu"}})
            channels = 4 * planes
    return [*layers, "global_avgpool", {"dense": {"units": num_classes}}]


def _cifar_resnet(depth: int, num_classes: int) -> list:
    """He et al. 2015, section 4.2: a 3x3 conv of 16 filters, then 3 stages of (depth - 2) / 6 basic
    blocks with 16, 32, 64 filters, global average pooling; option-A shortcuts (subsample, pad the
    new channels with zeros), so shortcuts add no parameters."""
    n = (depth - 2) // 6
    layers: list[Any] = [_conv(16, 3, bias=False), _bn(), RELU]
    for stage in range(3):
        filters = 16 * 2**stage
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            body = [_conv(filters, 3, stride, bias=False), _bn(), RELU, _conv(filters, 3, bias=False), _bn()]
            shortcut = "pad" if stride != 1 else "identity"
            layers.append({"residual": {"layers": body, "shortcut": shortcut, "activation": "relu"}})
    return [*layers, "global_avgpool", {"dense": {"units": num_classes}}]


@register_model("resnet_cifar", input_shape=(3, 32, 32))
def resnet_cifar(num_classes: int, depth: int = 20) -> list:
    """The CIFAR ResNets of He et al. 2015, section 4.2, at any ``depth`` = 6n + 2 (8, 14, 20, 32,
    44, 56, 110): 3x3 convs of 16, 32, 64 filters, n basic blocks per stage, option-A shortcuts."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"model.options.depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth!r}")
    return _cifar_resnet(depth, num_classes)


@register_model("resnet20_cifar", input_shape=(3, 32, 32))
def resnet20_cifar(num_classes: int) -> list:
    """ResNet-20 for 32x32 images (He et al. 2015, CIFAR-10: 8.75% test error, "0.27M" parameters):
    269,722 trainable parameters with 10 classes."""
    return _cifar_resnet(20, num_classes)


@register_model("resnet56_cifar", input_shape=(3, 32, 32))
def resnet56_cifar(num_classes: int) -> list:
    """ResNet-56 for 32x32 images (He et al. 2015, CIFAR-10: 6.97% test error, "0.85M" parameters):
    853,018 trainable parameters with 10 classes."""
    return _cifar_resnet(56, num_classes)


@register_model("resnet18_cifar", input_shape=(3, 32, 32))
def resnet18_cifar(num_classes: int) -> list:
    """ResNet-18 adapted to 32x32 images as CIFAR code commonly does: the 7x7/2 stem and the max-pool
    become one 3x3 conv, the rest is ``resnet18`` (11,173,962 trainable parameters with 10 classes)."""
    layers = _torch_resnet([2, 2, 2, 2], num_classes)
    return [_conv(64, 3, bias=False), _bn(), RELU, *layers[len(_torch_stem()) :]]
