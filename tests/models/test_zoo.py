"""The model zoo: every model builds and runs; Keras CNNs have Keras's parameter counts."""

from __future__ import annotations

import pytest
import torch

from knobwise.config import ModelConfig
from knobwise.errors import ConfigError
from knobwise.models import build_model, default_input_shape, list_models, resolve_layers, summarize
from knobwise.models._zoo import MODELS

MNIST = (1, 28, 28)
# zoo models that also make sense on 28x28 MNIST besides their natural input
ALSO_MNIST = {"mlp", "digits_cnn", "lenet5"}
# the ImageNet nets run one forward pass on the smallest input they allow (CPU time); their
# parameter counts at the natural input are checked in test_landmarks.py
SMALL = {
    "alexnet": (3, 67, 67),
    "vgg16": (3, 32, 32),
    "vgg19": (3, 32, 32),
    "resnet18": (3, 32, 32),
    "resnet34": (3, 32, 32),
    "resnet50": (3, 32, 32),
    "resnext50": (3, 32, 32),
    "inception_v3": (3, 75, 75),
    "inception_resnet_v2": (3, 75, 75),
    "xception": (3, 71, 71),
}


def _cases() -> list[tuple[str, tuple[int, int, int]]]:
    cases = []
    for name in list_models():
        natural = default_input_shape(name)
        assert natural is not None, f"{name} declares no natural input shape"
        cases.append((name, SMALL.get(name, natural)))
        if name in ALSO_MNIST and natural != MNIST:
            cases.append((name, MNIST))
    return cases


@pytest.mark.parametrize(("name", "shape"), _cases())
def test_every_zoo_model_builds_and_runs(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name), shape, num_classes=7)
    model.eval()  # batch norm in eval mode: any batch size works at 1x1 feature maps
    batch = 1 if name in SMALL else 3  # the ImageNet nets: one image is enough (shared CPU time)
    with torch.no_grad():
        out = model(torch.randn(batch, *shape))
    assert out.shape == (batch, 7)
    assert torch.isfinite(out).all()
    assert model.layers_spec == resolve_layers(ModelConfig(name=name), 7, input_shape=shape)
    assert MODELS.get(name).__doc__, f"{name} needs a docstring saying where it comes from"


def _conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def _dense(n_in: int, units: int) -> int:
    return n_in * units + units


def test_keras_mnist_cnn_parameter_counts() -> None:
    s = summarize(build_model(ModelConfig(name="keras_mnist_cnn"), MNIST, 10), MNIST)
    # 28 -valid-> 26 -pool-> 13 -> 13 -pool-> 6 -> 6 -pool-> 3 -> 3 -> 3: flatten 512*3*3
    expected = [
        _conv(3, 1, 32),
        _conv(3, 32, 64),
        _conv(3, 64, 128),
        _conv(3, 128, 256),
        _conv(3, 256, 512),
        _dense(512 * 3 * 3, 256),
        _dense(256, 128),
        _dense(128, 10),
    ]
    assert [r.params for r in s.layers if r.params] == expected
    assert s.total_params == sum(expected) == 2_782_090
    assert s.trainable_params == s.total_params and s.non_trainable_params == 0
    assert s.depth == 8
    assert [r.output_shape for r in s.layers if r.type == "maxpool2d"] == [
        (32, 13, 13),
        (64, 6, 6),
        (128, 3, 3),
    ]


def test_keras_cifar10_cnn_parameter_counts() -> None:
    shape = (3, 32, 32)
    s = summarize(build_model(ModelConfig(name="keras_cifar10_cnn"), shape, 10), shape)
    # 32 -> 30 -> 28 -pool-> 14 -> 14 -> 14 -pool-> 7 -> 7 -> 7 -pool-> 3: flatten 256*3*3
    expected = [
        _conv(3, 3, 64),
        _conv(3, 64, 64),
        _conv(3, 64, 128),
        _conv(3, 128, 128),
        _conv(3, 128, 256),
        _conv(3, 256, 256),
        _dense(256 * 3 * 3, 256),
        _dense(256, 128),
        _dense(128, 10),
    ]
    assert [r.params for r in s.layers if r.params] == expected
    assert s.total_params == sum(expected)


def test_lenet5_classic_and_mnist_padding() -> None:
    classic = summarize(build_model(ModelConfig(name="lenet5"), (1, 32, 32), 10), (1, 32, 32))
    convs = _conv(5, 1, 6) + _conv(5, 6, 16) + _conv(5, 16, 120)
    assert classic.total_params == convs + _dense(120, 84) + _dense(84, 10)
    on_mnist = resolve_layers(ModelConfig(name="lenet5"), 10, input_shape=MNIST)
    assert on_mnist[0]["padding"] == "same"
    assert resolve_layers(ModelConfig(name="lenet5"), 10)[0]["padding"] == "valid"
    forced = resolve_layers(ModelConfig(name="lenet5", options={"pad_first": False}), 10, input_shape=MNIST)
    assert forced[0]["padding"] == "valid"
    with pytest.raises(ConfigError, match=r"model\.options\.pad_first must be true, false or 'auto'"):
        resolve_layers(ModelConfig(name="lenet5", options={"pad_first": "yes"}), 10)


def test_mnist_ladder_shapes() -> None:
    layers = resolve_layers(ModelConfig(name="conv20x2_fc1000x2_dropout"), 10)
    model = build_model(ModelConfig(name="conv20x2_fc1000x2_dropout"), MNIST, 10)
    assert model.layer_shapes[3] == (40, 4, 4)  # Nielsen: n_in = 40*4*4
    assert [la["rate"] for la in layers if la["type"] == "dropout"] == [0.5, 0.5, 0.5]
    assert {la["activation"] for la in layers if la["type"] == "conv2d"} == {"relu"}
    sig = resolve_layers(ModelConfig(name="conv20_fc100_sigmoid"), 10)
    assert [la["type"] for la in sig][:2] == ["conv2d", "maxpool2d"] and sig[0]["padding"] == "valid"


def test_mlp_options() -> None:
    cfg = ModelConfig(name="mlp", options={"hidden": [32, 16], "activation": "tanh", "dropout": 0.1})
    assert [la["type"] for la in resolve_layers(cfg, 3)] == [
        "flatten",
        "dense",
        "dropout",
        "dense",
        "dropout",
        "dense",
    ]
    with pytest.raises(
        ConfigError, match=r"model\.options\.hiden: unknown option of mlp; did you mean 'hidden'"
    ):
        resolve_layers(ModelConfig(name="mlp", options={"hiden": [3]}), 3)


def test_unknown_zoo_model_names_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"model\.name: unknown model 'lenet'; did you mean 'lenet5'"):
        build_model(ModelConfig(name="lenet"), MNIST, 10)
    assert list_models("keras_*") == ["keras_cifar10_cnn", "keras_mnist_cnn"]


@pytest.mark.slow
def test_digits_cnn_quickstart_reaches_95_percent() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = (
        torch.tensor(a) for a in train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    )
    model = build_model(ModelConfig(name="digits_cnn"), (1, 8, 8), 10)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(6):
        model.train()
        for idx in torch.randperm(len(xtr)).split(64):
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        assert (model(xte).argmax(1) == yte).float().mean().item() >= 0.95


def test_zoo_options_beside_the_name() -> None:
    cfg = ModelConfig.model_validate({"name": "mlp", "hidden": [64, 32], "activation": "relu"})
    assert cfg.options == {"hidden": [64, 32], "activation": "relu"}
    with pytest.raises(
        ConfigError, match=r"model\.options\.hiden: unknown option of mlp; did you mean 'hidden'"
    ):
        resolve_layers(ModelConfig.model_validate({"name": "mlp", "hiden": [3]}), 3)
