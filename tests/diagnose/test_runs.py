"""Real runs: a tiny model is diagnosed high bias; an over-parameterized one on little data, high variance."""

from __future__ import annotations

from pathlib import Path

from knobwise.config import config_from_dict
from knobwise.diagnose import diagnose_run
from knobwise.run import train_experiment

TINY = ["flatten", {"dense": {"units": 2, "activation": "relu"}}, {"dense": {"units": 10}}]
BIG = [
    "flatten",
    {"dense": {"units": 512, "activation": "relu"}},
    {"dense": {"units": 512, "activation": "relu"}},
    {"dense": {"units": 10}},
]


def _run(tmp_path: Path, name: str, layers: list, data: dict, epochs: int) -> Path:
    cfg = config_from_dict(
        {
            "data": {"dataset": "digits", **data},
            "model": {"layers": layers},
            "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.003}},
            "evaluate": {"human_error": 0.5},
        }
    )
    return train_experiment(cfg, tmp_path / name, quiet=True).root


def test_tiny_model_is_diagnosed_high_bias(tmp_path: Path) -> None:
    d = diagnose_run(_run(tmp_path, "tiny", TINY, {}, epochs=4))
    assert d["avoidable_bias"] > 10 and "avoidable_bias" in d["high"]
    assert d["verdict"].startswith("high bias") and d["focus"] == "bias"
    assert d["knobs"][0] == {
        "knob": "bigger network",
        "setting": "model.name: a bigger zoo model, or more/wider entries in model.layers",
    }
    assert "better optimizer" not in [k["knob"] for k in d["knobs"]], "adam is already in use"
    assert d["errors"]["human"] == 0.5 and isinstance(d["curves"], list) and isinstance(d["gradients"], list)


def test_over_parameterized_model_on_a_small_subset_is_high_variance(tmp_path: Path) -> None:
    run = _run(
        tmp_path, "big", BIG, {"limit": 200, "split": {"train": 0.5, "dev": 0.25, "test": 0.25}}, epochs=30
    )
    d = diagnose_run(run, human=0.0)
    assert d["avoidable_bias"] <= 1.0 and d["variance"] > 3
    assert d["verdict"] == "high variance" or d["verdict"].startswith("high variance")
    assert d["focus"] == "variance" and d["knobs"][0]["knob"] == "more training data"
    assert d["errors"]["human"] == 0.0, "the argument overrides evaluate.human_error"
