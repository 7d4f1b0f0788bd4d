"""Bad input to ``knobwise tune``: exit code 2 and one line naming the problem, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tune_helpers import tiny_args, write_space

from knobwise.cli import main


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = main(["tune", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("space", "extra", "match"),
    [
        (
            {"train.optimizer.lrr": [0.1]},
            [],
            "train.optimizer.lrr: unknown key; did you mean 'train.optimizer.lr'",
        ),
        ({"train.optimizer.lr": {"low": 0.1, "high": 0.01}}, [], "low must be <= high"),
        ({"train.optimizer.lr": {"low": 0.0, "high": 0.1, "log": True}}, [], "log scale needs low > 0"),
        ({"train.optimizer.lr": [0.1]}, ["--sampler", "tpee"], "unknown sampler 'tpee'; did you mean 'tpe'"),
        (
            {"train.optimizer.lr": [0.1]},
            ["--pruner", "medain"],
            "unknown pruner 'medain'; did you mean 'median'",
        ),
        (
            {"train.optimizer.lr": {"low": 1e-3, "high": 0.1}},
            ["--sampler", "grid"],
            "grid sampler needs a finite set",
        ),
        (
            {"train.optimizer.lr": [0.1]},
            ["--objectives", "accuracy:max", "latency_ms:min", "--pruner", "median"],
            "pruning needs a single objective",
        ),
        ({"train.optimizer.lr": [0.1]}, ["--objectives", "acuracy:max"], "unknown metric 'acuracy'"),
    ],
)
def test_bad_space_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], space: dict, extra: list[str], match: str
) -> None:
    err = _run(
        capsys, ["--space", write_space(tmp_path, space), "--out", str(tmp_path / "s"), *tiny_args(), *extra]
    )
    assert match in err
    assert not (tmp_path / "s").exists()  # nothing half-written


def test_unreachable_storage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": [0.1]})
    url = "postgresql+psycopg2://knobwise:secret@127.0.0.1:1/nowhere"
    err = _run(capsys, ["--space", space, "--out", str(tmp_path / "s"), "--storage", url, *tiny_args()])
    assert "cannot open the storage" in err and "127.0.0.1:1" in err and "secret" not in err
    assert not (tmp_path / "s").exists()
    err = _run(
        capsys, ["--space", space, "--out", str(tmp_path / "s2"), "--storage", "sqlite:////no/such/dir/x.db"]
    )
    assert "cannot open the storage (unable to open database file)" in err


def test_resume_of_a_missing_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run(capsys, ["--resume", "--out", str(tmp_path / "nope")])
    assert "--resume: no study in" in err and "nope" in err


def test_other_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": [0.1]})
    assert "--trials must be >= 1" in _run(
        capsys, ["--space", space, "--trials", "0", "--out", str(tmp_path / "s")]
    )
    assert "--grace (2 s) must be longer" in _run(
        capsys, ["--space", space, "--heartbeat", "2", "--grace", "2"]
    )
    assert "--space SPACE is required" in _run(capsys, [])
