"""summarize() and the `knobwise summary` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from knobwise.cli import main
from knobwise.config import ModelConfig
from knobwise.models import build_model, summarize

KEYS = ["layers", "total_params", "trainable_params", "non_trainable_params", "size_mb", "depth"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["summary", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_rows_and_size() -> None:
    model = build_model(ModelConfig(layers=["flatten", "batchnorm", {"dense": {"units": 3}}]), (1, 2, 2), 3)
    model.train()
    s = summarize(model, (1, 2, 2))
    assert model.training  # mode restored
    assert [(r.name, r.type, r.output_shape, r.params) for r in s.layers] == [
        ("flatten_1", "flatten", (4,), 0),
        ("batchnorm_1", "batchnorm", (4,), 16),
        ("dense_1", "dense", (3,), 15),
    ]
    # params + buffers (incl. num_batches_tracked, int64) in bytes / 1e6
    assert s.size_mb == pytest.approx((8 * 4 + 8 * 4 + 8 + 15 * 4) / 1e6)
    assert list(s.to_dict()) == KEYS
    assert "Total params: 31" in s.caption()


def test_summary_of_any_module() -> None:
    s = summarize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)), (1, 4, 4))
    assert [(r.type, r.output_shape, r.params) for r in s.layers] == [
        ("Conv2d", (2, 2, 2), 20),
        ("ReLU", (2, 2, 2), 0),
        ("Flatten", (8,), 0),
        ("Linear", (2,), 18),
    ]


def test_cli_zoo_model_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "lenet5")
    assert list(out) == KEYS
    assert list(out["layers"][0]) == ["name", "type", "output_shape", "params", "level"]
    assert out["layers"][0] == {
        "name": "conv2d_1",
        "type": "conv2d",
        "output_shape": [6, 28, 28],
        "params": 156,
        "level": 0,
    }
    assert out["total_params"] == 61_706 and out["depth"] == 5
    mnist = run_json(capsys, "lenet5", "--input", "1x28x28", "--classes", "3")
    assert mnist["layers"][0]["output_shape"] == [6, 28, 28] and mnist["layers"][-1]["output_shape"] == [3]


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "digits_cnn"]) == 0
    out = capsys.readouterr().out
    assert "conv2d_1" in out and "Total params: 38,282" in out


def test_cli_yaml_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "data: {dataset: cifar10}\n"
        "model:\n"
        "  layers:\n"
        "    - conv2d: {filters: 8, kernel_size: 3, strides: 2, padding: same, activation: relu}\n"
        "    - global_avgpool\n"
        "    - dense: {units: classes}\n"
        "  init: he_normal\n"
    )
    out = run_json(capsys, str(cfg), "--classes", "4")
    assert [la["output_shape"] for la in out["layers"]] == [[8, 16, 16], [8], [4]]
    assert out["total_params"] == (3 * 3 * 3 * 8 + 8) + (8 * 4 + 4)
    folder = tmp_path / "folder.yml"
    folder.write_text("data: {dataset: folder}\nmodel: {name: mlp}\n")
    assert main(["summary", str(folder)]) == 2
    assert "give --input CxHxW" in capsys.readouterr().err
    assert run_json(capsys, str(folder), "--input", "3x4x4")["layers"][1]["params"] == 48 * 100 + 100


def test_cli_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_model(ModelConfig(name="digits_cnn"), (1, 8, 8), 10)
    meta = {"layers": model.layers_spec, "input_shape": [1, 8, 8], "classes": [str(i) for i in range(10)]}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    assert run_json(capsys, str(tmp_path))["total_params"] == sum(p.numel() for p in model.parameters())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["summary", str(empty)]) == 2
    assert "not a run directory (no model.json)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lenett"], "model.name: unknown model 'lenett'; did you mean 'lenet5'"),
        (["mlp", "--input", "28x28"], "--input must look like 1x28x28, got '28x28'"),
        (["mlp", "--input", "0x8x8"], "--input must look like 1x28x28, got '0x8x8'"),
        (["mlp", "--classes", "0"], "--classes must be >= 1, got 0"),
        (["missing.yaml"], "missing.yaml: config file not found"),
        (
            ["keras_mnist_cnn", "--input", "1x8x8"],
            "model.layers[7] (maxpool2d 2x2, valid): input 128x1x1 is smaller",
        ),
    ],
)
def test_cli_bad_input_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("knobwise summary: error: ") and message in err


def test_summary_keeps_device_and_dtype() -> None:
    model = build_model(ModelConfig(name="mlp"), (1, 8, 8), 10).to(torch.float64)
    assert summarize(model, (1, 8, 8)).total_params == 64 * 100 + 100 + 100 * 10 + 10


def test_summary_unwraps_compiled_models() -> None:
    model = build_model(ModelConfig(name="mlp"), (1, 8, 8), 10)

    class Wrapper(nn.Module):  # what torch.compile returns: the model as ``_orig_mod``
        def __init__(self) -> None:
            super().__init__()
            self._orig_mod = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._orig_mod(x)

    wrapped = Wrapper()
    assert [r.name for r in summarize(wrapped, (1, 8, 8)).layers] == ["flatten_1", "dense_1", "dense_2"]
