"""Error decomposition: a constructed case for every verdict, the knobs, and every bad input."""

from __future__ import annotations

import pytest

from knobwise.diagnose import GAP_KEYS, decompose, knobs_for, list_problems
from knobwise.errors import ConfigError


@pytest.mark.parametrize(
    ("errors", "high", "verdict", "focus"),
    [
        ({"train": 1.0, "dev": 12.0, "human": 0.0}, ["variance"], "high variance", "variance"),
        ({"train": 12.0, "dev": 13.0, "human": 0.0}, ["avoidable_bias"], "high bias", "bias"),
        (
            {"train": 12.0, "dev": 20.0, "human": 0.0},
            ["avoidable_bias", "variance"],
            "high bias and high variance",
            "bias",
        ),
        ({"train": 1.0, "dev": 2.0, "human": 0.0}, [], "well trained", None),
        (
            {"train": 1.0, "train_dev": 1.5, "dev": 10.0, "human": 0.5},
            ["data_mismatch"],
            "data mismatch",
            "data_mismatch",
        ),
        (
            {"train": 1.0, "dev": 1.5, "test": 5.0, "human": 0.5},
            ["overfitting_to_dev"],
            "overfitting to the dev set",
            "overfitting_to_dev",
        ),
        ({"train": 3.0, "dev": 3.5, "bayes": 0.5}, ["bias"], "high bias", "bias"),
        (
            {"train": 2.0, "train_dev": 9.0, "dev": 20.0, "human": 0.0},
            ["avoidable_bias", "variance", "data_mismatch"],
            "high bias and high variance and data mismatch",
            "bias",
        ),
    ],
)
def test_verdicts(errors: dict[str, float], high: list[str], verdict: str, focus: str | None) -> None:
    d = decompose(**errors)
    assert d.high == high and d.verdict == verdict and d.focus == focus
    assert bool(d.knobs) == (focus is not None)
    if focus:
        assert [k.knob for k in d.knobs] == [k.knob for k in knobs_for(focus)]


def test_gaps_in_percentage_points_and_only_when_given() -> None:
    d = decompose(train=2.0, train_dev=2.5, dev=6.0, test=6.5, human=0.5, bayes=0.25)
    assert (d.avoidable_bias, d.bias, d.variance, d.data_mismatch, d.overfitting_to_dev) == (
        1.5,
        1.75,
        0.5,
        3.5,
        0.5,
    )
    only = decompose(train=5.0, dev=7.0).to_dict()
    assert only["avoidable_bias"] is None and only["bias"] is None and only["data_mismatch"] is None
    assert only["variance"] == 2.0 and only["overfitting_to_dev"] is None
    assert set(GAP_KEYS) | {"high", "verdict", "focus", "knobs"} <= set(only)
    assert only["verdict"] == "high variance" and "bias not judged" in only["notes"][0]
    assert decompose(train=5.0, dev=5.5).verdict == "no high variance (bias not judged)"


def test_tolerance_decides_what_is_high() -> None:
    assert decompose(train=1.0, dev=2.0, human=0.0, tolerance=0.5).verdict == "high bias and high variance"
    assert decompose(train=1.0, dev=12.0, human=0.0, tolerance=20).verdict == "well trained"


def test_knobs_name_settings_and_skip_what_is_already_turned() -> None:
    settings = " ".join(k.setting for p in list_problems() for k in knobs_for(p))
    for key in (
        "model.name",
        "model.layers",
        "train.epochs",
        "train.optimizer.name: adam",
        "model.init: he_normal",
        "batchnorm",
        "data.augment",
        "train.optimizer.weight_decay",
        "train.l2",
        "dropout",
        "train.early_stopping",
        "knobwise tune",
        "train.clip_grad_norm",
        "data.exclude",
        "data.split.dev",
        "model.name: resnet18",
        "model.pretrained: RUN_DIR",
        "model.freeze: backbone",
        "train.fine_tune",
    ):
        assert key in settings, key
    cfg = {"train": {"optimizer": {"name": "adam", "weight_decay": 1e-4}, "early_stopping": {"patience": 3}}}
    bias = [k.knob for k in knobs_for("bias", cfg)]
    variance = [k.knob for k in knobs_for("variance", cfg)]
    assert "better optimizer" not in bias and "bigger network" in bias
    assert "early stopping" not in variance and "L2 regularization" not in variance
    assert "transfer learning" in bias and "transfer learning" in variance
    tuned = {"model": {"name": "resnet20_cifar", "pretrained": "runs/source"}}
    assert not {"transfer learning", "better architecture"} & {k.knob for k in knobs_for("bias", tuned)}
    assert "transfer learning" not in [k.knob for k in knobs_for("variance", tuned)]


def test_training_error_at_human_level_far_above_bayes_points_at_the_data() -> None:
    d = decompose(train=5.2, dev=5.6, human=5.0, bayes=1.0)
    assert d.high == ["bias"] and d.focus == "label_noise" and "unavoidable" in d.verdict
    assert [k.setting for k in d.knobs][:2] == [
        "knobwise errors RUN --label-issues",
        "data.exclude: suspects.csv, or data.relabel: corrected.csv",
    ]
    model = decompose(train=9.0, dev=9.5, human=5.0, bayes=1.0)
    assert model.high == ["avoidable_bias", "bias"] and model.focus == "bias" and model.verdict == "high bias"
    assert "impossible" in decompose(train=3.0, dev=3.0, human=1.0, bayes=2.0).notes[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": -1.0}, r"--train-error must be an error in percent in \[0, 100\], got -1"),
        ({"train": 1.0, "dev": 101.0}, r"--dev-error must be .* got 101"),
        ({"train": 1.0, "human": float("nan")}, r"--human-error must be"),
        ({"dev": 3.0}, r"--dev-error needs --train-error"),
        ({"train_dev": 3.0}, r"--train-dev-error needs --train-error"),
        ({"train": 1.0, "test": 3.0}, r"--test-error needs --dev-error"),
        ({"train": 1.0, "dev": 2.0, "tolerance": -1.0}, r"--tolerance must be >= 0"),
    ],
)
def test_bad_input(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        decompose(**kwargs)
