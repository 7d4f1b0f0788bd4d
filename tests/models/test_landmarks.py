"""The landmark CNNs of the zoo have their references' parameter counts at the original input.

Keras Applications counts every weight, batch-norm running statistics included (non-trainable);
torchvision counts parameters only, so for the nets Keras lacks the trainable count is compared.
Models are built on the meta device: shapes and counts without allocating 138M floats.
"""

from __future__ import annotations

import pytest
import torch

from knobwise.cli import main
from knobwise.config import ModelConfig
from knobwise.models import build_model, default_input_shape, default_num_classes, summarize

# name: (classes, total params as Keras counts them or None, trainable params)
REFERENCES = {
    # Keras Applications (keras.applications.*), 1000 classes, natural input
    "vgg16": (1000, 138_357_544, 138_357_544),
    "vgg19": (1000, 143_667_240, 143_667_240),
    "resnet50": (1000, 25_636_712, 25_583_592),
    "inception_v3": (1000, 23_851_784, 23_817_352),
    "xception": (1000, 22_910_480, 22_855_952),
    "inception_resnet_v2": (1000, 55_873_736, 55_813_192),
    # torchvision.models (sum of p.numel() over parameters()), 1000 classes
    "alexnet": (1000, None, 61_100_840),
    "resnet18": (1000, None, 11_689_512),
    "resnet34": (1000, None, 21_797_672),
    "resnext50": (1000, None, 25_028_904),
    # He et al. 2015, section 4.2 (option-A shortcuts): "0.27M" and "0.85M", 10 classes
    "resnet20_cifar": (10, None, 269_722),
    "resnet56_cifar": (10, None, 853_018),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_parameter_count_equals_reference(name: str) -> None:
    classes, total, trainable = REFERENCES[name]
    shape = default_input_shape(name)
    assert shape is not None
    with torch.device("meta"):
        model = build_model(ModelConfig(name=name), shape, classes)
        s = summarize(model, shape)
    assert s.trainable_params == trainable
    if total is not None:
        assert s.total_params == total
    assert model.output_shape == (classes,)


def test_natural_inputs_and_classes() -> None:
    assert default_input_shape("vgg16") == (3, 224, 224)
    assert default_input_shape("inception_v3") == default_input_shape("xception") == (3, 299, 299)
    assert default_num_classes("resnet50") == 1000 and default_num_classes("resnet20_cifar") is None


def test_summary_command_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet50", "--input", "3x224x224"]) == 0
    assert "Total params: 25,636,712" in capsys.readouterr().out
    assert main(["summary", "vgg16"]) == 0  # 1000 classes and 224x224 by default
    assert "Total params: 138,357,544" in capsys.readouterr().out


def test_shapes_along_inception_v3() -> None:
    with torch.device("meta"):
        model = build_model(ModelConfig(name="inception_v3"), (3, 299, 299), 1000)
    mixed = [
        s for s, spec in zip(model.layer_shapes, model.layers_spec, strict=True) if spec["type"] == "parallel"
    ]
    # Keras: mixed0-2 35x35x256/288/288, mixed3-7 17x17x768, mixed8 8x8x1280, mixed9-10 8x8x2048
    assert mixed == [
        (256, 35, 35),
        (288, 35, 35),
        (288, 35, 35),
        *[(768, 17, 17)] * 5,
        (1280, 8, 8),
        (2048, 8, 8),
        (2048, 8, 8),
    ]


def test_resnext_options_are_checked() -> None:
    from knobwise.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.options\.cardinality must be an integer >= 1, got 0"):
        build_model(ModelConfig(name="resnext50", options={"cardinality": 0}), (3, 32, 32), 10)
