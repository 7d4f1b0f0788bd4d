"""Weight initialization by name (``model.init``), applied to every conv and dense layer.

Each scheme sets the weights with :mod:`torch.nn.init` and the biases to zero, except
``normal_sqrt_n_in`` (biases N(0, 1), as in Nielsen's network2.py), ``network3`` (the init of
Nielsen's network3.py, which produced the MNIST ladder's reported numbers: weights
N(0, 1/n_out) with n_out = units of a dense layer or filters * kernel area / pool area of a conv
layer followed by pooling, biases N(0, 1), the output layer all zeros) and ``default`` (PyTorch's
own ``reset_parameters``). Batch-norm layers keep gamma = 1, beta = 0. ``n_in`` (fan-in) is
``in_channels * kh * kw`` for a conv and ``in_features`` for a dense layer.

Unlike Keras, the normal schemes are plain (not truncated) Gaussians, so their standard deviation is
exactly the formula's: He normal sqrt(2 / n_in), LeCun normal sqrt(1 / n_in), Glorot normal
sqrt(2 / (n_in + n_out)).

Example:
    >>> from torch import nn
    >>> layer = apply_init(nn.Linear(4, 3), "he_normal")
    >>> layer.bias.tolist()
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from knobwise.registry import Registry

__all__ = ["INITS", "apply_init", "list_inits"]

InitFn = Callable[[nn.Conv2d | nn.Linear], None]

#: Weight-init schemes by YAML name; each initializes one conv or dense module in place.
INITS: Registry[InitFn] = Registry("weight init", key="model.init")


def _zero_bias(module: nn.Conv2d | nn.Linear) -> None:
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _scheme(fill: Callable[..., object]) -> InitFn:
    def init(module: nn.Conv2d | nn.Linear) -> None:
        fill(module.weight)
        _zero_bias(module)

    return init


INITS.register("xavier_uniform", "glorot_uniform")(_scheme(nn.init.xavier_uniform_))
INITS.register("xavier_normal", "glorot_normal")(_scheme(nn.init.xavier_normal_))
INITS.register("he_normal", "kaiming_normal")(
    _scheme(lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))
)
INITS.register("he_uniform", "kaiming_uniform")(
    _scheme(lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"))
)
INITS.register("lecun_normal", "lecun")(_scheme(lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear")))
INITS.register("lecun_uniform")(_scheme(lambda w: nn.init.kaiming_uniform_(w, nonlinearity="linear")))


@INITS.register("normal_sqrt_n_in")
def _normal_sqrt_n_in(module: nn.Conv2d | nn.Linear) -> None:
    """Nielsen's network2/3 init: weights N(0, 1/n_in), biases N(0, 1)."""
    n_in = module.weight[0].numel()
    nn.init.normal_(module.weight, 0.0, 1.0 / math.sqrt(n_in))
    if module.bias is not None:
        nn.init.normal_(module.bias, 0.0, 1.0)


def _network3_model(model: nn.Module) -> None:
    """Nielsen's network3.py: N(0, 1/n_out) weights, N(0, 1) biases, a zero softmax layer.

    network3's ``ConvPoolLayer`` divides the conv's fan-out by the pool area of the pooling that
    follows it; the layer order of ``model.modules()`` tells which pooling follows which conv.
    """
    kinds = nn.Conv2d | nn.Linear | nn.MaxPool2d | nn.AvgPool2d
    modules = [m for m in model.modules() if isinstance(m, kinds)]
    weighted = [i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d | nn.Linear)]
    for pos, i in enumerate(weighted):
        module = modules[i]
        assert isinstance(module, nn.Conv2d | nn.Linear)
        if pos == len(weighted) - 1 and isinstance(module, nn.Linear):  # the softmax layer starts at 0
            nn.init.zeros_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            continue
        if isinstance(module, nn.Linear):
            n_out = float(module.out_features)
        else:
            n_out = float(module.out_channels * module.weight[0, 0].numel())
            nxt = modules[i + 1] if i + 1 < len(modules) else None
            if isinstance(nxt, nn.MaxPool2d | nn.AvgPool2d):
                k = nxt.kernel_size
                n_out /= float(k * k) if isinstance(k, int) else float(k[0] * k[1])
        nn.init.normal_(module.weight, 0.0, 1.0 / math.sqrt(n_out))
        if module.bias is not None:
            nn.init.normal_(module.bias, 0.0, 1.0)


@INITS.register("network3")
def _network3(module: nn.Conv2d | nn.Linear) -> None:
    """A lone layer under ``network3``: N(0, 1/n_out) weights, N(0, 1) biases."""
    n_out = module.weight.shape[0] * module.weight[0, 0].numel()  # units, or filters * kernel area
    nn.init.normal_(module.weight, 0.0, 1.0 / math.sqrt(n_out))
    if module.bias is not None:
        nn.init.normal_(module.bias, 0.0, 1.0)


#: Schemes that need the whole network (layer order, the output layer), not one layer at a time.
_WHOLE_MODEL: dict[str, Callable[[nn.Module], None]] = {"network3": _network3_model}


@INITS.register("default")
def _default(module: nn.Conv2d | nn.Linear) -> None:
    module.reset_parameters()


def list_inits(pattern: str = "*") -> list[str]:
    """Names of the weight-init schemes (aliases included) matching a shell-style ``pattern``.

    >>> "he_normal" in list_inits()
    True
    """
    return INITS.names(pattern)


def apply_init(model: nn.Module, name: str) -> nn.Module:
    """Initialize every ``Conv2d`` and ``Linear`` of ``model`` in place with scheme ``name``.

    An unknown name is a :class:`~knobwise.errors.ConfigError` naming ``model.init`` and close
    matches. Returns ``model``.

    >>> apply_init(nn.Linear(3, 2), "xavier_uniform").weight.shape
    torch.Size([2, 3])
    """
    init = INITS.get(name)
    whole = _WHOLE_MODEL.get(name)
    if whole is not None:
        whole(model)
        return model
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            init(module)
    return model
