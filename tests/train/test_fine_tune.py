"""Transfer learning end to end: pretrain on digits, fine-tune on a 5-class digits task with a new
head; frozen tensors stay bit-identical to the source, unfreezing and parameter groups work, and
bad pretrained sources are one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits

from knobwise.cli import main
from knobwise.config import ModelConfig, load_config
from knobwise.data import prepare_data
from knobwise.errors import ConfigError
from knobwise.models import build_model, freeze, load_pretrained
from knobwise.train import Trainer

LAYERS = [
    {"conv2d": {"filters": 8, "kernel_size": 3, "padding": "same", "use_bias": False}},
    "batchnorm",
    {"activation": "relu"},
    {
        "residual": {
            "layers": [
                {"conv2d": {"filters": 8, "kernel_size": 3, "padding": "same", "use_bias": False}},
                "batchnorm",
            ],
            "activation": "relu",
        }
    },
    "global_avgpool",
    {"dense": {"units": "classes"}},
]


def _config(
    tmp_path: Path, name: str, data: dict, model: dict | None = None, train: dict | None = None
) -> Path:
    cfg = {
        "seed": 0,
        "data": data,
        "model": {"layers": LAYERS, **(model or {})},
        "train": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9,
                                                              "weight_decay": 5e-4}, **(train or {})},
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run trained on all ten digits (the source of the weights)."""
    tmp = tmp_path_factory.mktemp("source")
    cfg = _config(tmp, "source", {"dataset": "digits", "limit": 400})
    assert main(["train", str(cfg), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


@pytest.fixture(scope="module")
def five_digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The target task: digits 5-9 relabelled 0-4 (other classes, a head of another size)."""
    x, y = load_digits(return_X_y=True)
    keep = y >= 5
    path = tmp_path_factory.mktemp("target") / "five.npz"
    xs = (x[keep] / 16.0).astype("float32").reshape(-1, 8, 8)
    np.savez(path, x=xs, y=y[keep] - 5, classes=np.array(["5", "6", "7", "8", "9"]))
    return {"dataset": "arrays", "root": str(path), "limit": 250}


def test_frozen_backbone_stays_bit_identical(source_run: Path, five_digits: dict, tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, "ft", five_digits, {"pretrained": str(source_run), "freeze": "backbone"}, {"epochs": 3}
    )
    assert main(["train", str(cfg), "--out", str(tmp_path / "ft"), "--quiet"]) == 0
    src = load_file(source_run / "model.safetensors")
    out = load_file(tmp_path / "ft" / "model.safetensors")
    backbone = [k for k in out if not k.startswith("dense_1.")]
    # weights, batch-norm running statistics and counters of every frozen layer, bit for bit
    assert any("running_mean" in k for k in backbone) and any("residual_1.layers" in k for k in backbone)
    for key in backbone:
        assert torch.equal(out[key], src[key]), key
    assert out["dense_1.linear.weight"].shape == (5, 8) and src["dense_1.linear.weight"].shape == (10, 8)
    meta = json.loads((tmp_path / "ft" / "model.json").read_text())["transfer"]
    assert meta["pretrained"]["new"] == ["dense_1.linear.bias", "dense_1.linear.weight"]
    assert set(meta["pretrained"]["skipped"]) == {"dense_1.linear.bias", "dense_1.linear.weight"}
    assert meta["frozen"] == ["conv2d_1", "batchnorm_1", "activation_1", "residual_1", "global_avgpool_1"]
    log = (tmp_path / "ft" / "log.txt").read_text()
    assert "tensors loaded, 2 new, 2 skipped" in log and "frozen:" in log
    history = (tmp_path / "ft" / "history.csv").read_text().splitlines()
    assert len(history) == 4  # header + 3 epochs


def test_unfreeze_at_epoch_and_discriminative_lr(source_run: Path, five_digits: dict, tmp_path: Path) -> None:
    ft = {"fine_tune": {"unfreeze_at_epoch": 1, "backbone_lr_mult": 0.1}}
    path = _config(tmp_path, "ft", five_digits, {"pretrained": str(source_run), "freeze": "backbone"}, ft)
    cfg = load_config(path)
    data = prepare_data(cfg.data, seed=0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    load_pretrained(model, cfg.model.pretrained or "")
    freeze(model, "backbone")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, data, cfg.train, seed=0, quiet=True)
    head, body = trainer.optimizer.param_groups
    assert head["lr"] == pytest.approx(0.05) and body["lr"] == pytest.approx(0.005)
    assert len(head["params"]) == 2 and len(body["params"]) == 6
    trainer.cfg = cfg.train.model_copy(update={"epochs": 1})
    trainer.fit()  # epoch 1: frozen
    assert torch.equal(model.state_dict()["conv2d_1.conv.weight"], before["conv2d_1.conv.weight"])
    assert torch.equal(
        model.state_dict()["batchnorm_1.bn.running_mean"], before["batchnorm_1.bn.running_mean"]
    )
    assert all(p.requires_grad for p in model.parameters())  # unfrozen at the end of epoch 1
    trainer.cfg = cfg.train
    trainer.fit()  # epoch 2: the backbone learns, its batch-norm statistics follow the data
    assert not torch.equal(model.state_dict()["conv2d_1.conv.weight"], before["conv2d_1.conv.weight"])
    assert not torch.equal(
        model.state_dict()["batchnorm_1.bn.running_mean"], before["batchnorm_1.bn.running_mean"]
    )


def test_freeze_prefixes_and_their_errors() -> None:
    model = build_model(ModelConfig(layers=LAYERS), (1, 8, 8), 3)
    assert freeze(model, ["residual_1.layers.conv2d_1"]) == ["residual_1.layers.conv2d_1"]
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == [
        "residual_1.layers.conv2d_1.conv.weight"
    ]
    with pytest.raises(
        ConfigError, match=r"model\.freeze\[0\]: 'conv2d_9' names no layer of the model \(layers: conv2d_1"
    ):
        freeze(model, ["conv2d_9"])
    with pytest.raises(Exception, match=r"model\.freeze must be none, backbone or a non-empty list"):
        ModelConfig(layers=LAYERS, freeze=[])


def test_bad_pretrained_sources_exit_2(
    five_digits: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unrelated = tmp_path / "unrelated.safetensors"
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(unrelated))
    not_tensors = tmp_path / "notes.safetensors"
    not_tensors.write_text("not a safetensors file")
    cases = {
        str(unrelated): f"model.pretrained: {unrelated} has no tensor matching the model by name and shape",
        str(tmp_path / "missing"): f"model.pretrained: {tmp_path / 'missing'} does not exist",
        str(tmp_path): f"model.pretrained: {tmp_path} has no model.safetensors",
        str(not_tensors): f"model.pretrained: {not_tensors} is not a readable safetensors file",
    }
    for i, (source, message) in enumerate(cases.items()):
        cfg = _config(tmp_path, f"bad{i}", five_digits, {"pretrained": source})
        out = tmp_path / f"run{i}"
        assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert not out.exists()  # bad input leaves nothing behind


def test_head_of_other_classes_is_not_loaded(source_run: Path) -> None:
    from knobwise.models import apply_transfer

    theirs = json.loads((source_run / "model.json").read_text())["classes"]
    cfg = ModelConfig(layers=LAYERS, pretrained=str(source_run))
    same = build_model(cfg, (1, 8, 8), 10)
    report = apply_transfer(same, cfg, classes=theirs).metadata["pretrained"]
    assert report["new"] == [] and report["skipped"] == {}
    other = build_model(cfg, (1, 8, 8), 10)
    report = apply_transfer(other, cfg, classes=[f"c{i}" for i in range(10)]).metadata["pretrained"]
    assert report["new"] == ["dense_1.linear.bias", "dense_1.linear.weight"]
    assert set(report["skipped"].values()) == {"head of the source's other classes"}


def test_babysitting_a_new_lr_keeps_the_backbone_multiplier(
    source_run: Path, five_digits: dict, tmp_path: Path
) -> None:
    """Resuming with another train.optimizer.lr moves both groups, the backbone still at 0.1x."""
    from knobwise.run._train import _apply_knob_changes

    ft = {"fine_tune": {"unfreeze_at_epoch": 1, "backbone_lr_mult": 0.1}, "schedule": {"name": "cosine"}}
    path = _config(tmp_path, "ft", five_digits, {"pretrained": str(source_run)}, ft)
    cfg = load_config(path)
    data = prepare_data(cfg.data, seed=0)
    trainer = Trainer(build_model(cfg.model, data.input_shape, data.num_classes), data, cfg.train, quiet=True)
    changed = load_config(path, ["train.optimizer.lr=0.02"])
    _apply_knob_changes(trainer, changed, ["train.optimizer.lr=0.02"])
    head, body = trainer.optimizer.param_groups
    assert head["lr"] == pytest.approx(0.02) and body["lr"] == pytest.approx(0.002)
    assert trainer.schedule.scheduler.base_lrs == pytest.approx([0.02, 0.002])
