"""Weight init: every registered scheme's statistics match its formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from knobwise.config import ModelConfig
from knobwise.errors import ConfigError
from knobwise.models import apply_init, build_model, list_inits

N_IN, N_OUT = 1000, 500
SQRT3 = math.sqrt(3)

# name -> (weight std, uniform bound or None, bias std)
EXPECTED: dict[str, tuple[float, float | None, float]] = {
    "xavier_uniform": (math.sqrt(2 / (N_IN + N_OUT)), math.sqrt(6 / (N_IN + N_OUT)), 0.0),
    "xavier_normal": (math.sqrt(2 / (N_IN + N_OUT)), None, 0.0),
    "he_normal": (math.sqrt(2 / N_IN), None, 0.0),
    "he_uniform": (math.sqrt(2 / N_IN), math.sqrt(6 / N_IN), 0.0),
    "lecun_normal": (math.sqrt(1 / N_IN), None, 0.0),
    "lecun_uniform": (math.sqrt(1 / N_IN), math.sqrt(3 / N_IN), 0.0),
    "normal_sqrt_n_in": (math.sqrt(1 / N_IN), None, 1.0),
    "network3": (0.0, None, 0.0),  # a lone layer is the network's output layer: network3 zeroes it
    # PyTorch's Linear default: U(-1/sqrt(n_in), 1/sqrt(n_in)) for weights and biases
    "default": (1 / math.sqrt(3 * N_IN), 1 / math.sqrt(N_IN), 1 / math.sqrt(3 * N_IN)),
}
ALIASES = {
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "lecun": "lecun_normal",
}


def test_every_init_has_expected_statistics() -> None:
    assert set(list_inits()) == set(EXPECTED) | set(ALIASES)


@pytest.mark.parametrize("name", list_inits())
def test_init_statistics(name: str) -> None:
    torch.manual_seed(0)
    w_std, bound, b_std = EXPECTED[ALIASES.get(name, name)]
    layer = apply_init(nn.Sequential(nn.Linear(N_IN, N_OUT)), name)[0]
    w, b = layer.weight.detach(), layer.bias.detach()
    assert w.mean().item() == pytest.approx(0.0, abs=0.05 * w_std)
    assert w.std().item() == pytest.approx(w_std, rel=0.1)
    if bound is not None:
        assert w.abs().max().item() <= bound
        assert w.abs().max().item() >= 0.99 * bound
    if b_std == 0:
        assert b.abs().max().item() == 0.0
    else:
        assert b.std().item() == pytest.approx(b_std, rel=0.15)


def test_conv_fan_in_and_batchnorm_untouched() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(
        layers=[
            {"conv2d": {"filters": 256, "kernel_size": 3}},
            "batchnorm",
            "flatten",
            {"dense": {"units": 2}},
        ],
        init="he_normal",
    )
    model = build_model(cfg, (64, 3, 3), 2)
    w = model.conv2d_1.conv.weight.detach()
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 3 * 3)), rel=0.1)
    assert model.conv2d_1.conv.bias.detach().abs().max().item() == 0.0
    assert model.batchnorm_1.bn.weight.detach().eq(1).all()


def test_unknown_init() -> None:
    with pytest.raises(
        ConfigError, match=r"model\.init: unknown weight init 'he_norml'; did you mean 'he_normal'"
    ):
        build_model(ModelConfig(name="mlp", init="he_norml"), (1, 8, 8), 10)


def test_network3_init_is_nielsens() -> None:
    """network3.py: N(0, 1/n_out) with n_out = filters * 5 * 5 / (2 * 2) for a conv + pool layer and
    the unit count for a dense layer, biases N(0, 1), the softmax layer all zeros."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="conv20x2_fc1000x2_dropout", init="network3"), (1, 28, 28), 10)
    params = dict(model.named_parameters())
    expected = {
        "conv2d_1.conv.weight": math.sqrt(1 / (20 * 25 / 4)),
        "conv2d_2.conv.weight": math.sqrt(1 / (40 * 25 / 4)),
        "dense_1.linear.weight": math.sqrt(1 / 1000),
        "dense_2.linear.weight": math.sqrt(1 / 1000),
    }
    for name, std in expected.items():
        assert params[name].std().item() == pytest.approx(std, rel=0.1), name
        bias = params[name.replace("weight", "bias")]
        assert bias.std().item() == pytest.approx(1.0, rel=0.35), name  # 20..1000 draws of N(0, 1)
    assert params["dense_3.linear.weight"].abs().max().item() == 0.0
    assert params["dense_3.linear.bias"].abs().max().item() == 0.0
