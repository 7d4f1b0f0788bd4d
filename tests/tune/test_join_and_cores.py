"""Re-running tune with the same config and space but other settings is refused (it would join
the old study and run its settings, or nothing); --workers above the core count is capped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tune_helpers import tiny_args

from knobwise.cli import main
from knobwise.errors import ConfigError
from knobwise.tune._cores import cap_workers, usable_cores
from knobwise.tune._run import TuneRequest, prepare_study

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "quickstart.yaml")
SPACE = str(ROOT / "examples" / "space.yaml")


def test_other_sampler_refused_same_settings_join(tmp_path: Path) -> None:
    out = str(tmp_path / "study")
    first, _ = prepare_study(TuneRequest(CONFIG, SPACE, sampler="tpe", trials=3, out=out))
    again, _ = prepare_study(TuneRequest(CONFIG, SPACE, sampler="tpe", trials=3, out=out))
    assert again.name == first.name and again.sampler == "tpe"
    with pytest.raises(ConfigError, match=r"other settings \(sampler tpe, now random\); .*--resume.*--study"):
        prepare_study(TuneRequest(CONFIG, SPACE, sampler="random", trials=3, out=out))
    with pytest.raises(ConfigError, match=r"objectives accuracy, now accuracy latency_ms"):
        prepare_study(
            TuneRequest(
                CONFIG, SPACE, sampler="tpe", trials=3, out=out, objectives=["accuracy:max", "latency_ms:min"]
            )
        )


def test_workers_capped_at_the_core_count() -> None:
    cores = usable_cores()
    assert cap_workers(cores) == (cores, None)
    n, note = cap_workers(cores + 2)
    assert n == cores
    assert note is not None and f"--workers {cores + 2} is more than the {cores} CPU core(s)" in note


def test_rerun_of_a_finished_study_says_nothing_was_left(
    tmp_path: Path, lr_space: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tune", "--space", lr_space, "--out", str(tmp_path / "s"), "--sampler", "random", "--trials", "1"]
    argv += ["-q", "--json", *tiny_args("train.epochs=1")]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert json.loads(first.out)["trials_run"] == 1 and "nothing was left" not in first.err
    assert main(argv) == 0  # the identical command again: it joins the finished study
    again = capsys.readouterr()
    assert json.loads(again.out)["trials_run"] == 0
    note = "already has its 1 trial: nothing was left to run (to add trials: --resume --trials N, N > 1)"
    lines = [ln for ln in again.err.splitlines() if "nothing was left" in ln]
    assert lines == [f"study 'quickstart-space' {note}"]
    assert main(["tune", "--out", str(tmp_path / "s"), "--resume", "-q"]) == 0
    assert note in capsys.readouterr().err
