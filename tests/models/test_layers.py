"""The layer-list builder: shapes, Keras parameter counts, 'same' padding, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from knobwise.config import ModelConfig
from knobwise.errors import ConfigError, ModelError
from knobwise.models import build_from_layers, build_model, normalize_layer, resolve_layers, summarize


def conv(filters: int, k: int, **kw: object) -> dict:
    return {"conv2d": {"filters": filters, "kernel_size": k, **kw}}


def test_normalize_fills_keras_defaults() -> None:
    assert normalize_layer(conv(8, 3), 0) == {
        "type": "conv2d",
        "filters": 8,
        "kernel_size": 3,
        "strides": 1,
        "padding": "valid",
        "activation": None,
        "use_bias": True,
        "groups": 1,
    }
    assert normalize_layer("flatten", 1) == {"type": "flatten"}
    assert normalize_layer({"activation": "relu"}, 2) == {"type": "activation", "name": "relu"}
    assert normalize_layer({"activation": {"name": "gelu"}}, 2) == {"type": "activation", "name": "gelu"}
    assert normalize_layer({"avgpool2d": {"pool_size": [2, 3]}}, 0)["strides"] == [2, 3]
    # the normalized form is accepted as it is (model.json round trip)
    spec = normalize_layer({"dense": {"units": 5, "activation": "tanh"}}, 0)
    assert normalize_layer(spec, 0) == spec


def test_batchnorm_keras_parameter_counts() -> None:
    layers = [
        conv(8, 3, padding="same"),
        "batchnorm",
        {"activation": "relu"},
        "flatten",
        {"dense": {"units": 10}},
        {"batchnorm": {"momentum": 0.9, "epsilon": 1e-5}},
        {"dense": {"units": 3}},
    ]
    model = build_from_layers(layers, (3, 6, 6))
    s = summarize(model, (3, 6, 6))
    conv_p = 3 * 3 * 3 * 8 + 8
    bn1 = 4 * 8
    dense1 = (8 * 6 * 6) * 10 + 10
    bn2 = 4 * 10
    dense2 = 10 * 3 + 3
    assert [r.params for r in s.layers] == [conv_p, bn1, 0, 0, dense1, bn2, dense2]
    assert s.total_params == conv_p + bn1 + dense1 + bn2 + dense2
    assert s.non_trainable_params == 2 * 8 + 2 * 10
    assert s.trainable_params == s.total_params - s.non_trainable_params
    assert s.depth == 5
    bn = model.batchnorm_2.bn
    assert isinstance(bn, torch.nn.BatchNorm1d)
    assert bn.momentum == pytest.approx(0.1) and bn.eps == pytest.approx(1e-5)
    assert model.batchnorm_1.bn.momentum == pytest.approx(0.01) and model.batchnorm_1.bn.eps == 1e-3
    assert isinstance(model.batchnorm_1.bn, torch.nn.BatchNorm2d)


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9, 10, 28])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_same_stride2_sizes_are_ceil(n: int, k: int) -> None:
    layers = [
        conv(4, k, strides=2, padding="same"),
        {"maxpool2d": {"pool_size": 3, "strides": 2, "padding": "same"}},
    ]
    layers.append({"avgpool2d": {"pool_size": 2, "padding": "same"}})
    model = build_from_layers(layers, (2, n, n + 1))
    h1, w1 = math.ceil(n / 2), math.ceil((n + 1) / 2)
    h2, w2 = math.ceil(h1 / 2), math.ceil(w1 / 2)
    h3, w3 = math.ceil(h2 / 2), math.ceil(w2 / 2)
    assert model.layer_shapes == [(4, h1, w1), (4, h2, w2), (4, h3, w3)]
    assert model(torch.randn(2, 2, n, n + 1)).shape == (2, 4, h3, w3)


def test_valid_conv_size_formula() -> None:
    model = build_from_layers([conv(3, 3, strides=2), conv(3, [2, 4], strides=[1, 3])], (1, 11, 11))
    # floor((n + 2p - f) / s) + 1
    assert model.layer_shapes == [(3, 5, 5), (3, 4, 1)]


def test_same_pools_ignore_padding_like_keras() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3) - 20  # all negative: padded zeros must not win
    mx = build_from_layers([{"maxpool2d": {"pool_size": 2, "padding": "same"}}], (1, 3, 3))
    av = build_from_layers([{"avgpool2d": {"pool_size": 2, "padding": "same"}}], (1, 3, 3))
    v = x[0, 0]
    assert mx(x)[0, 0].tolist() == [[v[1, 1].item(), v[1, 2].item()], [v[2, 1].item(), v[2, 2].item()]]
    expected = [[v[:2, :2].mean(), v[:2, 2].mean()], [v[2, :2].mean(), v[2, 2]]]
    torch.testing.assert_close(av(x)[0, 0], torch.tensor(expected))
    # symmetric 'same' (3x3 stride 1) takes the torch path; corners average 4 real pixels
    av3 = build_from_layers([{"avgpool2d": {"pool_size": 3, "strides": 1, "padding": "same"}}], (1, 3, 3))
    assert av3(x)[0, 0, 0, 0].item() == pytest.approx(v[:2, :2].mean().item())


def test_asymmetric_same_conv_pads_bottom_right() -> None:
    model = build_from_layers([conv(1, 2, padding="same", use_bias=False)], (1, 3, 3))
    with torch.no_grad():
        model.conv2d_1.conv.weight.fill_(1.0)
    out = model(torch.ones(1, 1, 3, 3))[0, 0]
    assert out.tolist() == [[4, 4, 2], [4, 4, 2], [2, 2, 1]]


def test_channels_last_autocast_and_rebuild_from_spec() -> None:
    torch.manual_seed(0)
    layers = [conv(8, 3, padding="same", activation="relu"), "batchnorm", {"maxpool2d": {}}]
    layers += [conv(8, 3, strides=2, padding="same"), "global_avgpool", {"dense": {"units": "classes"}}]
    cfg = ModelConfig(layers=layers, init="he_normal")
    model = build_model(cfg, (3, 9, 9), num_classes=4).eval()
    x = torch.randn(5, 3, 9, 9)
    ref = model(x)
    assert ref.shape == (5, 4)
    cl = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(cl(x.contiguous(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (5, 4) and torch.isfinite(out).all()
    # model.json round trip: the spec is JSON and rebuilds the same module
    spec = json.loads(json.dumps(model.layers_spec))
    assert spec[-1]["units"] == 4
    again = build_from_layers(spec, (3, 9, 9)).eval()
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again(x), ref)


def test_units_classes_resolved() -> None:
    layers = resolve_layers(ModelConfig(layers=["flatten", {"dense": {"units": "classes"}}]), 7)
    assert layers[-1]["units"] == 7


BAD_CONFIG = [
    ([{"conv3d": {"filters": 1}}], r"model\.layers\[0\]: unknown layer type 'conv3d'; did you mean 'conv2d'"),
    (["flaten"], r"unknown layer type 'flaten'; did you mean 'flatten'.*available: activation, add, avg"),
    ([conv(0, 3)], r"model\.layers\[0\]\.filters must be an integer >= 1, got 0"),
    ([conv(2, 3, padding="full")], r"model\.layers\[0\]\.padding must be 'valid' or 'same', got 'full'"),
    (
        [conv(2, 3, filter=3)],
        r"model\.layers\[0\]\.filter: unknown parameter of conv2d; did you mean 'filters'",
    ),
    ([{"conv2d": {"filters": 2}}], r"model\.layers\[0\]\.kernel_size is required for conv2d"),
    ([conv(2, [3, 3, 3])], r"kernel_size must be an integer >= 1 or a pair \[h, w\]"),
    (
        [conv(2, 3, activation="rleu")],
        r"model\.layers\[0\]\.activation: unknown activation 'rleu'; did you mean 'relu'",
    ),
    (
        ["flatten", {"dropout": {"rate": 1.0}}],
        r"model\.layers\[1\]\.rate must be a number in \[0, 1\), got 1\.0",
    ),
    ([{"dropout": {}}], r"model\.layers\[0\]\.rate is required for dropout"),
    ([conv(2, 3, use_bias="yes")], r"use_bias must be true or false"),
    ([{"batchnorm": {"epsilon": 0}}], r"model\.layers\[0\]\.epsilon must be a number > 0"),
    ([["flatten"]], r"model\.layers\[0\]: a layer is a name such as 'flatten'"),
    ([{"conv2d": 5}], r"model\.layers\[0\]\.conv2d: the parameters must be a mapping"),
    ([], r"model\.layers must be a non-empty list"),
]


@pytest.mark.parametrize(("layers", "match"), BAD_CONFIG)
def test_bad_layer_params_are_config_errors(layers: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_from_layers(layers, (1, 8, 8))


BAD_SHAPES = [
    (
        [conv(64, 3), {"maxpool2d": {}}, conv(64, 2), conv(8, 5)],
        r"^model\.layers\[3\] \(conv2d 5x5, valid\): input 64x2x2 is smaller than the kernel$",
    ),
    (
        [{"maxpool2d": {"pool_size": 9}}],
        r"model\.layers\[0\] \(maxpool2d 9x9, valid\): input 1x8x8 is smaller",
    ),
    (
        [conv(4, 3), {"dense": {"units": 3}}],
        r"model\.layers\[1\] \(dense 3\): input 4x6x6 is not flat; add 'flatten'",
    ),
    (
        ["flatten", "global_avgpool"],
        r"model\.layers\[1\] \(global_avgpool\): needs an image input \(CxHxW\), got flat 64",
    ),
    (["flatten", conv(2, 1)], r"model\.layers\[1\] \(conv2d 1x1, valid\): needs an image input"),
]


@pytest.mark.parametrize(("layers", "match"), BAD_SHAPES)
def test_shapes_that_do_not_fit_are_model_errors(layers: list, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        build_from_layers(layers, (1, 8, 8))


@pytest.mark.parametrize("shape", [(1, 8), (0, 8, 8), (1, 8.0, 8), "1x8x8"])
def test_bad_input_shape(shape: object) -> None:
    with pytest.raises(ModelError, match=r"input_shape must be \(C, H, W\)"):
        build_from_layers(["flatten"], shape)  # type: ignore[arg-type]


def test_build_model_checks_the_number_of_classes() -> None:
    cfg = ModelConfig(layers=["flatten", {"dense": {"units": 5}}])
    with pytest.raises(ModelError, match=r"outputs 5 values but there are 10 classes.*units: 10"):
        build_model(cfg, (1, 8, 8), 10)
    with pytest.raises(ModelError, match=r"num_classes must be an integer >= 1, got 0"):
        build_model(cfg, (1, 8, 8), 0)
    with pytest.raises(ModelError, match=r"'classes' needs the number of classes"):
        build_from_layers(["flatten", {"dense": {"units": "classes"}}], (1, 8, 8))
    with pytest.raises(ConfigError, match=r"model\.options only applies to zoo models"):
        build_model(ModelConfig(layers=["flatten"], options={"a": 1}), (1, 8, 8), 10)
