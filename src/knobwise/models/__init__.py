"""Models: the layer-list builder, the model zoo, weight initialization and the model summary.

Example:
    >>> import torch
    >>> from knobwise.config import ModelConfig
    >>> model = build_model(ModelConfig(name="digits_cnn"), input_shape=(1, 8, 8), num_classes=10)
    >>> model(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 10])
    >>> summarize(model, (1, 8, 8)).layers[0]
    LayerRow(name='conv2d_1', type='conv2d', output_shape=(16, 8, 8), params=160, level=0)
"""

from knobwise.models import _blocks, _zoo_cnns, _zoo_inception  # noqa: F401  (registration)
from knobwise.models._freeze import backbone_prefixes, freeze, unfreeze
from knobwise.models._init import apply_init, list_inits
from knobwise.models._layers import Layer, LayerModel, build_from_layers, normalize_layer
from knobwise.models._pretrained import PretrainedReport, load_pretrained
from knobwise.models._summary import LayerRow, ModelSummary, summarize
from knobwise.models._transfer import Transfer, apply_transfer
from knobwise.models._zoo import (
    build_model,
    default_input_shape,
    default_num_classes,
    list_models,
    register_model,
    resolve_layers,
)

__all__ = [
    "PretrainedReport",
    "Transfer",
    "apply_transfer",
    "backbone_prefixes",
    "freeze",
    "load_pretrained",
    "unfreeze",
    "Layer",
    "LayerModel",
    "LayerRow",
    "ModelSummary",
    "apply_init",
    "build_from_layers",
    "build_model",
    "default_input_shape",
    "default_num_classes",
    "list_inits",
    "list_models",
    "normalize_layer",
    "register_model",
    "resolve_layers",
    "summarize",
]
