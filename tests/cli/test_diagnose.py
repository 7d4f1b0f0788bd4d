"""`knobwise diagnose`: from numbers and from a run, JSON keys, and every bad input (exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from knobwise.cli import main

#: A snake_case identifier that is not part of a config path (``evaluate.human_error``).
_IDENTIFIER = r"(?<![.\w])[a-z]+_[a-z_]+\b"

KEYS = {
    "avoidable_bias",
    "bias",
    "variance",
    "data_mismatch",
    "overfitting_to_dev",
    "high",
    "verdict",
    "focus",
    "knobs",
}


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_from_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    d = _json(capsys, ["diagnose", "--train-error", "1", "--dev-error", "12", "--human-error", "0", "--json"])
    assert KEYS <= set(d) and d["verdict"] == "high variance" and d["variance"] == 11.0 and d["bias"] is None
    assert all(set(k) == {"knob", "setting"} for k in d["knobs"])
    d = _json(capsys, ["diagnose", "--train-error", "1", "--dev-error", "2", "--human-error", "0", "--json"])
    assert d["verdict"] == "well trained" and d["knobs"] == []
    d = _json(
        capsys,
        [
            "diagnose",
            "--train-error",
            "1",
            "--dev-error",
            "2",
            "--human-error",
            "0",
            "--tolerance",
            "0.5",
            "--json",
        ],
    )
    assert d["high"] == ["avoidable_bias", "variance"]
    assert main(["diagnose", "--train-error", "12", "--dev-error", "13", "--human-error", "0"]) == 0
    text = capsys.readouterr().out
    assert "verdict: high bias" in text and "1. bigger network: model.name" in text


def test_from_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert (
        main(["train", "--out", str(run), "--quiet", "--set", "train.epochs=2", "--set", "data.limit=300"])
        == 0
    )
    capsys.readouterr()
    d = _json(capsys, ["diagnose", str(run), "--human-error", "0.5", "--json"])
    assert KEYS | {"curves", "gradients"} <= set(d)
    metrics = json.loads((run / "metrics.json").read_text())
    assert d["variance"] == pytest.approx(metrics["dev"]["error"] - metrics["train"]["error"])
    assert d["overfitting_to_dev"] == pytest.approx(metrics["test"]["error"] - metrics["dev"]["error"])
    assert main(["diagnose", str(run)]) == 0
    assert "verdict:" in capsys.readouterr().out
    (run / "metrics.json").unlink()
    assert main(["diagnose", str(run)]) == 2
    assert "no metrics.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--train-error", "-1"], "--train-error must be an error in percent in [0, 100], got -1"),
        (["--train-error", "1", "--dev-error", "100.5"], "--dev-error must be an error in percent"),
        (["--dev-error", "5"], "--dev-error needs --train-error"),
        (["--train-error", "1", "--human-error", "120"], "--human-error must be"),
        ([], "diagnose needs a RUN directory or errors"),
        (["nowhere", "--train-error", "1"], "give a RUN or the errors, not both"),
        (["does-not-exist"], "no such run directory"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], match: str
) -> None:
    assert main(["diagnose", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_terminal_output_names_problems_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--human-error", "0.5", "--train-error", "1", "--train-dev-error", "1.2"]
    assert main(["diagnose", *argv, "--dev-error", "1.5", "--test-error", "9"]) == 0
    text = capsys.readouterr().out
    assert "errors (%): train 1.00, train-dev 1.20, dev 1.50, test 9.00, human-level 0.50" in text
    assert "verdict: overfitting to the dev set" in text
    assert "focus: overfitting to the dev set; knobs, in order:" in text
    assert "  overfitting to the dev set  +7.50 pp  HIGH" in text
    # Only the knobs' settings name config keys; the rest reads as words.
    prose = [ln for ln in text.splitlines() if not ln.lstrip()[:3].rstrip(".").isdigit()]
    assert not [ln for ln in prose if re.search(_IDENTIFIER, ln)], prose
    d = _json(capsys, ["diagnose", *argv, "--dev-error", "1.5", "--test-error", "9", "--json"])
    assert d["focus"] == "overfitting_to_dev" and d["high"] == ["overfitting_to_dev"]  # machine keys
    assert set(d["errors"]) == {"train", "train_dev", "dev", "test", "human", "bayes"}
