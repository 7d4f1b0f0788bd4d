"""Fixtures for the tuning tests: a tiny base config (digits, MLP, 1-2 epochs) and spaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

#: Tiny trials: bundled digits, a subset, a small MLP.
TINY = [
    "model.name=mlp",
    "model.options.hidden=[32]",
    "data.limit=300",
    "train.epochs=2",
    "train.batch_size=32",
]


def write_space(tmp_path: Path, space: dict, name: str = "space.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(space), encoding="utf-8")
    return str(path)


def tiny_args(*extra: str) -> list[str]:
    out: list[str] = []
    for item in [*TINY, *extra]:
        out += ["--set", item]
    return out


@pytest.fixture
def lr_space(tmp_path: Path) -> str:
    return write_space(
        tmp_path,
        {
            "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "train.batch_size": [16, 32],
        },
    )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test database (``.ci/postgres.sh`` starts one and prints the URL)."""
    url = os.environ.get("KNOBWISE_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "KNOBWISE_TEST_POSTGRES_URL is not set: start a server with `eval $(.ci/postgres.sh)` "
            "(CI does this in .ci/run)",
            pytrace=False,
        )
    return url


def tune_cmd(space: str, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    """The ``knobwise tune`` command line of a tiny study (run as a separate process)."""
    import sys

    cmd = [sys.executable, "-m", "knobwise", "tune", "--space", space, "--out", str(out)]
    return [*cmd, "--sampler", "random", "-q", *tiny_args(f"train.epochs={epochs}"), *extra]


def wait_for(predicate, timeout: float = 300.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until it returns something truthy (fails the test after ``timeout``)."""
    import time

    end = time.time() + timeout
    while time.time() < end:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {predicate.__name__}")


def load_sqlite_study(out: Path):  # type: ignore[no-untyped-def]
    """The Optuna study of the study folder ``out`` (its default SQLite file), or None while the
    folder or the study does not exist yet."""
    import json

    import optuna

    if not (out / "study.json").is_file():
        return None
    name = json.loads((out / "study.json").read_text())["name"]
    try:
        return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
    except KeyError:
        return None
