"""Transfer learning, the freezing: ``model.freeze: none | backbone | [name prefixes]``.

The *head* is the last top-level layer with weights (the classifier); the *backbone* is every
layer before it. Freezing turns ``requires_grad`` off for the chosen parameters and marks the
batch-norm layers among them ``frozen_stats``, which :class:`~knobwise.models.LayerModel` keeps in
eval mode, so their running mean and variance stay those of the source as well: a frozen layer
stays bit-identical to what was loaded.

Example:
    >>> from knobwise.models._layers import build_from_layers
    >>> model = build_from_layers([{"conv2d": {"filters": 2, "kernel_size": 3}}, "batchnorm",
    ...                            "flatten", {"dense": {"units": 3}}], (1, 4, 4))
    >>> backbone_prefixes(model)
    ['conv2d_1', 'batchnorm_1', 'flatten_1']
    >>> freeze(model, "backbone")
    ['conv2d_1', 'batchnorm_1', 'flatten_1']
    >>> [n for n, p in model.named_parameters() if p.requires_grad]
    ['dense_1.linear.weight', 'dense_1.linear.bias']
    >>> model.train().batchnorm_1.bn.training
    False
"""

from __future__ import annotations

from typing import Any

from torch import nn

from knobwise.errors import ConfigError

__all__ = ["backbone_prefixes", "freeze", "head_prefix", "unfreeze"]


def head_prefix(model: nn.Module) -> str:
    """The name of the last top-level layer that has parameters (the classifier head)."""
    with_params = [name for name, child in model.named_children() if any(True for _ in child.parameters())]
    if not with_params:
        raise ConfigError("model.freeze: the model has no layer with weights")
    return with_params[-1]


def backbone_prefixes(model: nn.Module) -> list[str]:
    """The top-level layers before the head."""
    head = head_prefix(model)
    names = [name for name, _ in model.named_children()]
    return names[: names.index(head)]


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def in_backbone(model: nn.Module) -> set[str]:
    """Names of the parameters in the backbone."""
    prefixes = backbone_prefixes(model)
    return {n for n, _ in model.named_parameters() if any(_matches(n, p) for p in prefixes)}


def freeze(model: nn.Module, spec: Any, key: str = "model.freeze") -> list[str]:
    """Freeze ``spec`` (``none``, ``backbone`` or a list of parameter-name prefixes such as
    ``conv2d_1`` or ``residual_2.layers``) and return the prefixes frozen."""
    if spec in (None, "none"):
        return []
    prefixes = backbone_prefixes(model) if spec == "backbone" else list(spec)
    if spec != "backbone":
        modules = [n for n, _ in model.named_modules() if n]
        for i, prefix in enumerate(prefixes):
            if not any(_matches(n, prefix) for n in modules):
                top = ", ".join(n for n, _ in model.named_children())
                raise ConfigError(f"{key}[{i}]: {prefix!r} names no layer of the model (layers: {top})")
    for name, param in model.named_parameters():
        if any(_matches(name, p) for p in prefixes):
            param.requires_grad_(False)
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and any(_matches(name, p) for p in prefixes):
            module.frozen_stats = True  # type: ignore[assignment]
            module.eval()
    return prefixes


def unfreeze(model: nn.Module) -> None:
    """Make every parameter trainable again and let batch-norm statistics follow the mode."""
    for param in model.parameters():
        param.requires_grad_(True)
    for module in model.modules():
        if getattr(module, "frozen_stats", False):
            module.frozen_stats = False  # type: ignore[assignment]
            module.train(model.training)
