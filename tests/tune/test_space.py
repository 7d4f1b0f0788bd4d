"""Search spaces: parsing, validation errors, log-uniform sampling, grids, conditions, refining."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from scipy import stats

from knobwise.errors import ConfigError
from knobwise.tune import check_against_config, narrow, parse_space


def test_entry_forms_and_grid() -> None:
    space = parse_space(
        {
            "train.optimizer.lr": {"type": "float", "low": 0.01, "high": 0.03, "step": 0.01},
            "train.batch_size": [16, 32],
            "train.epochs": {"type": "int", "low": 1, "high": 3},
            "train.optimizer.name": {"choices": ["sgd", "adam"]},
        }
    )
    assert space.grid() == {
        "train.optimizer.lr": [0.01, 0.02, 0.03],
        "train.batch_size": [16, 32],
        "train.epochs": [1, 2, 3],
        "train.optimizer.name": ["sgd", "adam"],
    }
    assert space.grid_size() == 36
    assert parse_space(space.to_dict()).to_dict() == space.to_dict()  # space.yaml round-trips


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"train.optimzer.lr": [0.1]}, r"train\.optimzer: unknown key; did you mean 'train\.optimizer'"),
        (
            {"train.optimizer.lr": {"type": "float", "low": 0.1, "high": 0.01}},
            r"low must be <= high, got low=0\.1 > high=0\.01",
        ),
        (
            {"train.optimizer.lr": {"type": "float", "low": 0, "high": 0.1, "log": True}},
            r"log scale needs low > 0, got low=0",
        ),
        (
            {"train.optimizer.lr": {"type": "float", "low": 0.1, "high": 1, "lg": True}},
            r"train\.optimizer\.lr\.lg: unknown key",
        ),
        (
            {"train.optimizer.lr": {"type": "real", "low": 0.1, "high": 1}},
            r"type must be one of float, int, categorical",
        ),
        ({"train.epochs": {"type": "int", "low": 1.5, "high": 3}}, r"integer bounds"),
        ({"train.optimizer.lr": []}, r"empty list"),
        (
            {"train.optimizer.momentum": {"low": 0.1, "high": 0.9, "when": {"train.optimizer.nam": "sgd"}}},
            r"when: train\.optimizer\.nam: unknown key; did you mean 'train\.optimizer\.name'",
        ),
    ],
)
def test_bad_entries(space: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_space(space, "space.yaml")


def test_grid_with_continuous_range_is_an_error() -> None:
    space = parse_space({"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 0.1, "log": True}})
    with pytest.raises(
        ConfigError, match=r"grid sampler needs a finite set of values, got the continuous range"
    ):
        space.grid()


def test_bounds_are_checked_against_the_schema() -> None:
    space = parse_space({"train.epochs": {"type": "int", "low": 0, "high": 3}}, "space.yaml")
    with pytest.raises(ConfigError, match=r"space\.yaml: train\.epochs=0 gives an invalid config"):
        check_against_config(space, {})


def _sample(space_dict: dict, n: int, base: dict | None = None) -> list[dict]:
    space = parse_space(space_dict)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    out: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        out.append(space.suggest(trial, base or {}))
        return 0.0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n)
    return out


def test_log_sampling_is_log_uniform() -> None:
    values = [
        v["train.optimizer.lr"]
        for v in _sample({"train.optimizer.lr": {"low": 1e-5, "high": 1.0, "log": True}}, 200)
    ]
    r = np.log10(values)
    # 10^r with r uniform on [-5, 0]: Kolmogorov-Smirnov against that uniform law ...
    assert stats.kstest(r, stats.uniform(loc=-5, scale=5).cdf).pvalue > 0.01
    # ... and not uniform on the linear scale (most values would then lie above 0.1).
    assert stats.kstest(values, stats.uniform(loc=1e-5, scale=1.0).cdf).pvalue < 1e-6
    assert sum(v < 1e-3 for v in values) > 50  # two of five decades: about 80 of 200


def test_conditional_entries() -> None:
    space = {
        "train.optimizer.name": ["sgd", "adam"],
        "train.optimizer.momentum": {
            "type": "float",
            "low": 0.5,
            "high": 0.9,
            "when": {"train.optimizer.name": "sgd"},
        },
    }
    rows = _sample(space, 30)
    assert {r["train.optimizer.name"] for r in rows} == {"sgd", "adam"}
    for r in rows:
        assert ("train.optimizer.momentum" in r) == (r["train.optimizer.name"] == "sgd")


def test_refine_narrows_numeric_ranges() -> None:
    space = parse_space(
        {
            "train.optimizer.lr": {"low": 1e-5, "high": 1.0, "log": True},
            "train.batch_size": {"type": "int", "low": 8, "high": 256},
            "train.optimizer.name": ["sgd", "adam"],
        }
    )
    best = [
        {"train.optimizer.lr": 3e-3, "train.batch_size": 32},
        {"train.optimizer.lr": 1e-2, "train.batch_size": 48},
    ]
    new = narrow(space, best)
    lr, bs, name = new.params
    assert 1e-5 < lr.low <= 3e-3 and 1e-2 <= lr.high < 1.0
    assert math.log10(lr.high / lr.low) <= 0.5 * 5 + 1e-9  # at most half the old log-width
    assert 8 <= bs.low <= 32 and 48 <= bs.high < 256 and bs.high - bs.low <= 124
    assert name.choices == ("sgd", "adam")
