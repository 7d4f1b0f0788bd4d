"""Every shipped example config trains for one short epoch on a small subset of its real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knobwise.cli import main
from knobwise.config import load_config

#: Experiment configs (the search spaces `space.yaml` and `grid.yaml` are for `knobwise tune`).
EXAMPLES = sorted(
    p for p in (Path(__file__).parent.parent / "examples").glob("*.yaml") if p.stem not in ("space", "grid")
)


def test_examples_exist() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {
        "quickstart",
        "keras_mnist_cnn",
        "keras_cifar10_cnn",
        "lenet5_mnist",
        "mnist_fc100_sigmoid",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_trains_one_short_epoch(path: Path, tmp_path: Path, data_dir: Path) -> None:
    cfg = load_config(path)  # the file itself validates
    out = tmp_path / path.stem
    args = ["train", str(path), "--out", str(out), "--quiet", "--set", "train.epochs=1"]
    if cfg.data.dataset != "digits":
        args += ["--set", "data.limit=200", "--set", "data.test_limit=100"]
    if cfg.train.batch_size != "full" and cfg.train.batch_size > 64:
        args += ["--set", "train.batch_size=64"]
    if cfg.model.pretrained is not None:  # a transfer-learning example: first a source run of its net
        source = tmp_path / "source"
        assert main([*args[:3], str(source), *args[4:], "--set", "model.pretrained=null"]) == 0
        args += ["--set", f"model.pretrained={source}"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["test"]["n"] > 0
