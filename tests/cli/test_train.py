"""`knobwise train`: the quickstart, the run directory, and every bad input of the foundation issue."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from knobwise.cli import main
from knobwise.io import load_tensors

FAST = ["--quiet", "--set", "train.epochs=2", "--set", "data.limit=400"]


def test_quickstart_reaches_95_percent(tmp_path: Path) -> None:
    """The README's quickstart as typed: no config, the bundled digits, >= 95% test accuracy."""
    out = tmp_path / "qs"
    assert main(["train", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.95
    for name in ("config.yaml", "history.csv", "metrics.json", "model.safetensors", "model.json", "log.txt"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 16))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(rows[0])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["name"] == "digits_cnn" and saved["train"]["optimizer"]["lr"] == 0.003
    for split in ("train", "dev", "test"):
        m = metrics[split]
        assert m["error"] == pytest.approx(100 * (1 - m["accuracy"]))
        assert m["loss"] > 0
    model_json = json.loads((out / "model.json").read_text())
    assert model_json["classes"] == [str(i) for i in range(10)] and model_json["input_shape"] == [1, 8, 8]
    assert not list(out.rglob("*.tmp")), "no temporary files are left behind"


def test_json_output_and_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--out",
            str(out),
            "--json",
            *FAST,
            "--set",
            "train.optimizer.name=sgd",
            "--set",
            "train.optimizer.lr=0.05",
            "--set",
            "train.optimizer.momentum=0.9",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run"] == str(out) and set(report["metrics"]) >= {"train", "dev", "test"}
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["optimizer"] == {
        **saved["train"]["optimizer"],
        "name": "sgd",
        "lr": 0.05,
        "momentum": 0.9,
    }
    # log.txt's epoch lines are for reading (4 significant digits, time to 0.1 s); history.csv
    # keeps every digit.
    epochs = [ln for ln in (out / "log.txt").read_text().splitlines() if ln.startswith("epoch ")]
    assert len(epochs) == 2
    rows = list(csv.DictReader((out / "history.csv").open()))
    loss = float(rows[0]["loss"])
    assert f"loss={loss:.4g}," in epochs[0] and rows[0]["loss"] != f"{loss:.4g}"
    for field in epochs[0].split(": ", 1)[1].split(", "):
        key, value = field.split("=")
        if key == "time":
            assert re.fullmatch(r"\d+\.\ds", value), field
        else:
            assert len(value.replace("0.", "").replace(".", "").lstrip("0")) <= 4 or "e" in value, field


def test_layer_list_config_trains(tmp_path: Path) -> None:
    cfg = tmp_path / "layers.yaml"
    cfg.write_text(
        "data: {dataset: digits, limit: 300}\n"
        "model:\n  layers:\n    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}\n"
        "    - maxpool2d: {pool_size: 2}\n    - flatten\n    - dense: {units: 10}\n  init: he_normal\n"
        "train: {epochs: 1, batch_size: 1, optimizer: {name: sgd, lr: 0.01}, l2: 0.1}\n"
    )
    assert main(["train", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0


def test_whole_set_as_one_batch(tmp_path: Path) -> None:
    assert main(["train", "--out", str(tmp_path / "r"), *FAST, "--set", "train.batch_size=100000"]) == 0
    rows = list(csv.DictReader((tmp_path / "r" / "history.csv").open()))
    assert len(rows) == 2


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    out = tmp_path / "never"
    code = main(["train", "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists(), "bad input must leave no run directory behind"
    return err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "data.dataset=mnsit"], r"data\.dataset: unknown dataset 'mnsit'; did you mean 'mnist'"),
        (["--set", "model.name=lenet"], r"model\.name: unknown model 'lenet'; did you mean 'lenet5'"),
        (["--set", "train.optimizer.name=adma"], r"unknown optimizer 'adma'; did you mean 'adam'"),
        (["--set", "train.schedule.name=cosin"], r"unknown schedule 'cosin'; did you mean 'cosine'"),
        (["--set", "train.optimizer.lr=0"], r"train\.optimizer\.lr must be greater than 0, got 0"),
        (["--set", "train.optimizer.lr=-0.1"], r"train\.optimizer\.lr must be greater than 0, got -0\.1"),
        (["--set", "train.batch_size=0"], r"train\.batch_size must be an integer >= 1 or .full., got 0"),
        (["--set", "train.epochs=0"], r"train\.epochs must be greater than or equal to 1, got 0"),
        (["--set", "data.split.dev=0.3"], r"data\.split fractions train \+ dev \+ test must sum to 1"),
        (["--set", "data.dataset=mnist", "--set", "data.root=/nonexistent/mnist"], r"/nonexistent/mnist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    import re

    err = _bad(tmp_path, capsys, args)
    assert re.search(message, err), err


def test_unknown_layer_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  layers: [flaten, {dense: {units: 10}}]\n")
    err = _bad(tmp_path, capsys, [str(cfg)])
    assert "flaten" in err and "flatten" in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(tmp_path, capsys, [str(tmp_path / "nope.yaml")])
    assert "config file not found" in err


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_corrupt_image_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    err = _bad(
        tmp_path,
        capsys,
        ["--set", "data.dataset=folder", "--set", f"data.root={root}", "--set", "model.name=mlp"],
    )
    assert "broken.png" in err


def test_empty_class_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path)
    (root / "bird").mkdir()
    err = _bad(
        tmp_path,
        capsys,
        ["--set", "data.dataset=folder", "--set", f"data.root={root}", "--set", "model.name=mlp"],
    )
    assert "bird" in err


def test_labels_outside_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    npz = tmp_path / "a.npz"
    np.savez(
        npz, x=np.zeros((20, 8, 8), np.uint8), y=np.array([0, 1] * 9 + [5, 7]), classes=np.array(["a", "b"])
    )
    err = _bad(
        tmp_path,
        capsys,
        ["--set", "data.dataset=arrays", "--set", f"data.root={npz}", "--set", "model.name=mlp"],
    )
    assert "a.npz" in err and "5" in err


def test_non_finite_loss_stops_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The learning rate explodes after the first epoch: exit 1, the epoch-1 checkpoint survives."""
    out = tmp_path / "nan"
    code = main(
        [
            "train",
            "--out",
            str(out),
            "--quiet",
            "--set",
            "data.limit=300",
            "--set",
            "train.epochs=4",
            "--set",
            "train.optimizer.name=sgd",
            "--set",
            "train.optimizer.lr=0.01",
            "--set",
            "train.schedule={name: exponential, gamma: 1.0e12}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "non-finite training loss" in err and "epoch 2" in err
    assert (out / "checkpoint" / "latest").read_text().strip() == "epoch-0001"
    tensors = load_tensors(out / "checkpoint" / "epoch-0001" / "state.safetensors")
    assert all(bool(t.isfinite().all()) for k, t in tensors.items() if k.startswith("model."))
