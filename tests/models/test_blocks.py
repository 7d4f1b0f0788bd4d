"""Blocks of the layer list: residual, parallel/concat/add, separable/depthwise/grouped convs,
L2 pooling, zero padding, global max-pooling; nesting, the summary tree, errors naming the path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from knobwise.cli import main
from knobwise.config import ModelConfig
from knobwise.errors import ConfigError, ModelError
from knobwise.models import build_from_layers, build_model, normalize_layer, summarize

# The layer list of the issue that asked for blocks, as a user writes it.
ISSUE_YAML = """
layers:
  - conv2d: {filters: 32, kernel_size: 3, padding: same}
  - residual:
      layers:
        - conv2d: {filters: 64, kernel_size: 3, strides: 2, padding: same}
        - batchnorm
        - activation: relu
        - conv2d: {filters: 64, kernel_size: 3, padding: same}
        - batchnorm
      activation: relu
  - parallel:
      - [{conv2d: {filters: 16, kernel_size: 1}}]
      - [{conv2d: {filters: 16, kernel_size: 1}}, {conv2d: {filters: 32, kernel_size: 3, padding: same}}]
      - [{maxpool2d: {pool_size: 3, strides: 1, padding: same}}, {conv2d: {filters: 16, kernel_size: 1}}]
  - separable_conv2d: {filters: 64, kernel_size: 3, padding: same}
  - global_avgpool
  - dense: {units: 10}
"""


def conv(filters: int, k: int | list[int] = 3, **kw: object) -> dict:
    return {"conv2d": {"filters": filters, "kernel_size": k, **kw}}


def issue_layers() -> list:
    return yaml.safe_load(ISSUE_YAML)["layers"]


def test_issue_yaml_builds_with_shapes_and_keras_counts() -> None:
    model = build_model(ModelConfig(layers=issue_layers()), (3, 32, 32), 10)
    assert model.layer_shapes == [(32, 32, 32), (64, 16, 16), (64, 16, 16), (64, 16, 16), (64,), (10,)]
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    s = summarize(model, (3, 32, 32))
    by_name = {r.name: r for r in s.layers}
    # residual: two convs + two batch norms + the automatic 1x1/2 projection (no bias) + its batch norm
    body = (9 * 32 * 64 + 64) + 4 * 64 + (9 * 64 * 64 + 64) + 4 * 64
    assert by_name["residual_1"].params == body + 32 * 64 + 4 * 64
    assert by_name["residual_1.shortcut.conv2d_1"].params == 32 * 64
    assert by_name["residual_1.layers.conv2d_1"].output_shape == (64, 16, 16)
    assert by_name["residual_1.layers.conv2d_1"].level == 1
    # parallel: 16 + 32 + 16 channels
    assert by_name["parallel_1"].output_shape == (64, 16, 16)
    assert by_name["parallel_1.branch_1.conv2d_2"].output_shape == (32, 16, 16)
    # separable conv, Keras count: depthwise 3*3*C + pointwise C*F + F
    assert by_name["separable_conv2d_1"].params == 9 * 64 + 64 * 64 + 64
    assert s.total_params == sum(r.params for r in s.layers if r.level == 0)
    # depth counts layers with weights, not the blocks holding them: 1 + 5 + 4 + 1 + 1
    assert s.depth == 1 + (2 + 2 + 2) + 4 + 1 + 1


def test_issue_yaml_summary_command_shows_the_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = {"data": {"dataset": "cifar10"}, "model": yaml.safe_load(ISSUE_YAML)}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["summary", str(path)]) == 0
    text = capsys.readouterr().out
    assert "residual_1" in text and "  layers.conv2d_1" in text and "  shortcut.conv2d_1" in text
    assert main(["summary", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    assert {"name": "parallel_1.branch_2.maxpool2d_1", "level": 1}.items() <= next(
        r for r in rows if r["name"] == "parallel_1.branch_2.maxpool2d_1"
    ).items()


def test_normalized_nested_spec_round_trips() -> None:
    model = build_from_layers(issue_layers(), (3, 32, 32))
    spec = json.loads(json.dumps(model.layers_spec))  # model.json
    assert [normalize_layer(item, i) for i, item in enumerate(spec)] == spec
    rebuilt = build_from_layers(spec, (3, 32, 32))
    rebuilt.load_state_dict(model.state_dict())  # same names, same shapes
    assert spec[2]["type"] == "parallel" and len(spec[2]["branches"]) == 3
    assert spec[1]["layers"][0]["type"] == "conv2d" and spec[1]["shortcut"] == "auto"


def test_residual_identity_sum_activation_and_scale() -> None:
    torch.manual_seed(0)
    layers = [{"residual": {"layers": [conv(4, 3, padding="same")], "activation": "relu", "scale": 0.5}}]
    model = build_from_layers(layers, (4, 5, 5))
    block = model[0]
    x = torch.randn(2, 4, 5, 5)
    f = block.layers(x)
    assert torch.allclose(model(x), torch.relu(x + 0.5 * f))
    assert isinstance(block.shortcut, torch.nn.Identity)


def test_residual_shortcut_kinds() -> None:
    body = [conv(8, 3, strides=2, padding="same")]
    # projection without batch norm in the body: a 1x1/2 conv with bias
    proj = build_from_layers([{"residual": {"layers": body}}], (4, 6, 6))
    assert proj.layer_shapes == [(8, 3, 3)]
    sc = proj[0].shortcut
    assert sc.conv2d_1.conv.stride == (2, 2) and sc.conv2d_1.conv.bias is not None
    # option A: subsample and zero-pad the new channels, no parameters
    pad = build_from_layers([{"residual": {"layers": body, "shortcut": "pad"}}], (4, 6, 6))
    x = torch.randn(1, 4, 6, 6)
    sc_out = pad[0].shortcut(x)
    assert sc_out.shape == (1, 8, 3, 3)
    assert torch.equal(sc_out[:, 2:6], x[:, :, ::2, ::2]) and not sc_out[:, :2].any()
    assert sum(p.numel() for p in pad[0].shortcut.parameters()) == 0
    # an explicit shortcut list (Xception's strided 1x1 conv + batch norm)
    explicit = [conv(8, 1, strides=2, padding="same", use_bias=False), "batchnorm"]
    model = build_from_layers([{"residual": {"layers": body, "shortcut": explicit}}], (4, 6, 6))
    assert model(x).shape == (1, 8, 3, 3)


def test_parallel_concat_add_and_identity_branch() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4)
    model = build_from_layers([{"add": [[], [conv(3, 1)]]}], (3, 4, 4))
    assert torch.allclose(model(x), x + model[0].branch_1(x))
    cat = build_from_layers([{"concat": [[conv(2, 1)], [conv(5, 3, padding="same")]]}], (3, 4, 4))
    assert cat.output_shape == (7, 4, 4)
    out = cat(x)
    assert torch.equal(out[:, :2], cat[0].branch_0(x))
    # blocks nest: a residual around a parallel whose branch holds another parallel
    split = {"parallel": [[conv(1, [1, 3], padding="same")], [conv(1, [3, 1], padding="same")]]}
    inner = {"parallel": [[conv(1, 1)], [conv(1, 1), split]]}
    nested = [{"residual": {"layers": [inner]}}]
    model = build_from_layers(nested, (3, 4, 4))
    assert model.output_shape == (3, 4, 4) and model(x).shape == (2, 3, 4, 4)


def test_depthwise_grouped_l2pool_padding_global_max() -> None:
    s = summarize(
        build_from_layers(
            [
                {"depthwise_conv2d": {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}},
                conv(8, 3, groups=4, padding="same"),
                {"separable_conv2d": {"filters": 5, "kernel_size": 3, "use_bias": False}},
            ],
            (4, 6, 6),
        ),
        (4, 6, 6),
    )
    # Keras: depthwise k*k*C*m + C*m bias; grouped conv k*k*(C/g)*F + F; separable k*k*C + C*F
    assert [r.params for r in s.layers] == [9 * 4 * 2 + 8, 9 * 2 * 8 + 8, 9 * 8 + 8 * 5]
    x = torch.randn(2, 3, 4, 4)
    pool = build_from_layers([{"l2pool2d": {"pool_size": 2}}], (3, 4, 4))
    expected = x.pow(2).unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2)).sqrt()
    assert torch.allclose(pool(x), expected, atol=1e-6)
    padded = build_from_layers(
        [{"zero_padding2d": {"padding": [[1, 2], [0, 3]]}}, "global_maxpool"], (3, 4, 4)
    )
    assert padded.layer_shapes == [(3, 7, 7), (3,)]
    assert torch.equal(padded(x), x.amax((2, 3)).clamp(min=0))  # the zeros take part in the max
    assert normalize_layer({"zero_padding2d": {"padding": 2}}, 0)["padding"] == [2, 2, 2, 2]


def test_batchnorm_without_scale_counts_three_per_channel() -> None:
    s = summarize(build_from_layers([{"batchnorm": {"scale": False}}], (5, 2, 2)), (5, 2, 2))
    assert s.total_params == 15 and s.trainable_params == 5  # beta; moving mean and variance


def test_unknown_block_key_names_the_path() -> None:
    layers = [conv(4), {"residual": {"layers": [{"conv": {"filters": 3}}]}}]
    with pytest.raises(
        ConfigError, match=r"model\.layers\[1\]\.residual\.layers\[0\]: unknown layer type 'conv'"
    ):
        build_from_layers(layers, (3, 8, 8))
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.shortcutt: unknown parameter of residual"):
        normalize_layer({"residual": {"layers": [conv(3)], "shortcutt": "pad"}}, 0)
    deep = [{"parallel": [[conv(2, 1)], [{"residual": [{"dense": {"unit": 3}}]}]]}]
    with pytest.raises(
        ConfigError,
        match=r"model\.layers\[0\]\.parallel\[1\]\[0\]\.residual\.layers\[0\]\.unit: unknown parameter",
    ):
        build_from_layers(deep, (3, 8, 8))
    with pytest.raises(
        ConfigError, match=r"model\.layers\[0\]\.parallel must be a list of at least two branches"
    ):
        normalize_layer({"parallel": [[conv(2, 1)]]}, 0)
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.residual\.shortcut must be 'auto'"):
        normalize_layer({"residual": {"layers": [conv(3)], "shortcut": "zero"}}, 0)


def test_shape_errors_name_the_block_path() -> None:
    bad_concat = [{"parallel": [[conv(4, 1)], [conv(4, 3)]]}]  # valid 3x3: 8x8 -> 6x6
    with pytest.raises(
        ModelError,
        match=r"model\.layers\[0\]\.parallel\[1\]: outputs 4x6x6 but branch 0 outputs 4x8x8; concatenation",
    ):
        build_from_layers(bad_concat, (3, 8, 8))
    with pytest.raises(
        ModelError, match=r"model\.layers\[0\]\.add\[1\]: outputs 3x6x6 .* add needs equal shapes"
    ):
        build_from_layers([{"add": [[], [conv(3, 3)]]}], (3, 8, 8))
    inner = [conv(4), {"residual": {"layers": ["batchnorm", {"dense": {"units": 3}}]}}]
    with pytest.raises(
        ModelError, match=r"model\.layers\[1\]\.residual\.layers\[1\] \(dense 3\): input 4x6x6 is not flat"
    ):
        build_from_layers(inner, (3, 8, 8))
    with pytest.raises(
        ModelError, match=r"model\.layers\[0\]\.residual: the layers output 4x6x6 but the shortcut outputs"
    ):
        build_from_layers([{"residual": {"layers": [conv(4)], "shortcut": "identity"}}], (3, 8, 8))
    with pytest.raises(
        ModelError, match=r"model\.layers\[0\]\.conv2d\.groups|model\.layers\[0\]\.groups: 2 groups need"
    ):
        build_from_layers([conv(4, groups=2)], (3, 8, 8))


def test_cli_bad_blocks_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "unknown": [{"residual": {"layers": [{"conv": {"filters": 3}}]}}],
        "concat": [{"parallel": [[conv(4, 1)], [conv(4, 3)]]}, "global_avgpool", {"dense": {"units": 10}}],
    }
    expected = {
        "unknown": "model.layers[0].residual.layers[0]: unknown layer type 'conv'",
        "concat": "model.layers[0].parallel[1]: outputs 4x30x30 but branch 0 outputs 4x32x32",
    }
    for name, layers in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"data": {"dataset": "cifar10"}, "model": {"layers": layers}}))
        assert main(["summary", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected[name] in err


def test_issue_yaml_trains_on_cifar10(cifar_small_tar: Path, tmp_path: Path) -> None:
    cfg = {
        "seed": 0,
        "data": {"dataset": "folder", "root": str(cifar_small_tar), "limit": 150, "test_limit": 50},
        "model": yaml.safe_load(ISSUE_YAML),
        "train": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "adam", "lr": 1e-3}},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["n"] == 50 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    spec = json.loads((tmp_path / "run" / "model.json").read_text())["layers"]
    assert [layer["type"] for layer in spec][:3] == ["conv2d", "residual", "parallel"]
