"""`knobwise train` with the data knobs, `knobwise augment-preview`, and every bad input of issue 3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knobwise.cli import main

MNIST = ["--set", "data.dataset=mnist", "--set", "data.limit=300", "--set", "data.test_limit=100"]


def test_train_with_augmentation_on_an_mnist_subset(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--quiet", *MNIST, "--set", "model.name=fc100_sigmoid"]
    args += ["--set", "data.augment={rotation_range: 5, zoom_range: 0.2, width_shift_range: 0.15, "]
    args[-1] += "height_shift_range: 0.15, cutmix: {alpha: 1.0, p: 0.5}}"
    args += [
        "--set",
        "data.balance=oversample",
        "--set",
        "evaluate.tta={shifts: 1}",
        "--set",
        "train.epochs=1",
    ]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["test"]["n"] == 100
    log = (out / "log.txt").read_text()
    assert "augment (train split, on the device): rotation_range=5.0" in log
    assert "data.balance oversample" in log and "train imbalance" in log


def test_augment_preview_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Path(__file__).parents[2] / "examples" / "keras_mnist_cnn.yaml"
    out = tmp_path / "preview.png"
    assert (
        main(["augment-preview", str(cfg), "--n", "6", "--out", str(out), "--set", "data.limit=60", "--json"])
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["n"] == 6 and shown["out"] == str(out)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 200


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.augment={rotaton_range: 5}",
            "data.augment.rotaton_range: unknown key; did you mean 'data.augment.rotation_range'",
        ),
        (
            "data.augment.rotation_range=200",
            "data.augment.rotation_range must be in [0, 180] degrees, got 200",
        ),
        ("data.augment.rotation_range=-1", "data.augment.rotation_range must be in [0, 180] degrees, got -1"),
        ("data.augment.width_shift_range=-0.1", "data.augment.width_shift_range must be >= 0, got -0.1"),
        (
            "data.augment.height_shift_range=1.5",
            "data.augment.height_shift_range must be a fraction in [0, 1)",
        ),
        ("data.augment.zoom_range=1.5", "data.augment.zoom_range must be in [0, 1)"),
        (
            "data.augment.zoom_range=[1.2, 0.8]",
            "data.augment.zoom_range [low, high] must satisfy 0 < low <= high",
        ),
        (
            "data.augment.fill_mode=mirror",
            "data.augment.fill_mode: must be 'nearest', 'constant', 'reflect' or 'wrap'",
        ),
        ("data.augment.cutout.p=1.5", "data.augment.cutout.p"),
        ("data.balance=smote", "data.balance.method: must be 'oversample', 'undersample'"),
        ("evaluate.tta={flip: true}", "evaluate.tta.flip: unknown key; did you mean 'evaluate.tta.flips'"),
    ],
)
def test_bad_augmentation_config_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, message: str
) -> None:
    assert main(["train", "--out", str(tmp_path / "r"), "--quiet", "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "r").exists()


@pytest.fixture
def digits_npz(tmp_path: Path) -> Path:
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path / "digits.npz"
    np.savez(
        path, x=d.images[:300].astype(np.float32) / 16, y=d.target[:300], ids=[f"d{i}" for i in range(300)]
    )
    return path


@pytest.mark.parametrize(
    ("rows", "column", "message"),
    [
        ([["id", "w"], ["d0", "2"]], "weight", "has no column 'weight' (columns: id, w)"),
        ([["id", "weight"], ["d0", "-0.5"]], "weight", "line 2: weight must be >= 0, got -0.5"),
    ],
)
def test_bad_sample_weight_is_exit_2(
    tmp_path: Path,
    digits_npz: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[list[str]],
    column: str,
    message: str,
) -> None:
    path = tmp_path / "weights.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    args = ["train", "--out", str(tmp_path / "r"), "--quiet", "--set", "data.dataset=arrays"]
    args += [
        "--set",
        f"data.root={digits_npz}",
        "--set",
        f"data.sample_weight={{file: {path}, column: {column}}}",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_by_source_source_that_does_not_exist_is_exit_2(
    tmp_path: Path, digits_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = "{{name: {}, dataset: arrays, root: " + str(digits_npz) + "}}"
    sources = "[" + one.format("hq") + ", " + one.format("lq") + "]"
    args = ["train", "--out", str(tmp_path / "r"), "--quiet", "--set", f"data.sources={sources}"]
    args += ["--set", "data.split.by_source={train: [hq], dev: [lqq]}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "data.split.by_source.dev: unknown source 'lqq'; did you mean 'lq'?" in err and "\n" not in err


def test_mixup_with_a_hinge_loss_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--out", str(tmp_path / "r"), "--quiet", "--set", "data.augment={mixup: {alpha: 0.2}}"]
    args += ["--set", "train.loss.name=multiclass_hinge"]
    assert main(args) == 2
    assert "train.loss.name must be one of cross_entropy, binary_cross_entropy" in capsys.readouterr().err


def test_augment_preview_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Path(__file__).parents[2] / "examples" / "quickstart.yaml"
    assert main(["augment-preview", str(cfg), "--out", str(tmp_path / "p.png")]) == 2
    assert "no data.augment section" in capsys.readouterr().err
    assert main(["augment-preview", str(cfg), "--out", str(tmp_path / "p.jpg")]) == 2
    assert "--out must name a .png file" in capsys.readouterr().err
