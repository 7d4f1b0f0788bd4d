"""Tune settings are defined once (tune/_options.py): the CLI's options, TuneRequest and the
settings a study saves all come from the same fields."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from tune_helpers import TINY

import knobwise as kw
from knobwise.cli import build_parser
from knobwise.tune import StudyOptions, StudySettings, TuneRequest

EXAMPLE = Path(__file__).parents[2] / "examples" / "quickstart.yaml"


def test_cli_defaults_are_the_request_defaults() -> None:
    args = build_parser(["tune"]).parse_args(["tune"])
    from_cli = TuneRequest(**{f.name: getattr(args, f.name) for f in fields(TuneRequest)})
    assert from_cli == TuneRequest(config=None, space=None)


def test_every_setting_is_an_option_with_its_type() -> None:
    argv = ["tune", "c.yaml", "--space", "s.yaml", "--pruner-startup", "5", "--timeout", "2.5", "-q"]
    argv += ["--objectives", "accuracy:max", "latency_ms:min", "--set", "train.epochs=1", "--refine", "2"]
    args = build_parser(["tune"]).parse_args(argv)
    req = TuneRequest(**{f.name: getattr(args, f.name) for f in fields(TuneRequest)})
    assert (req.config, req.space, req.pruner_startup, req.timeout, req.quiet) == (
        "c.yaml",
        "s.yaml",
        5,
        2.5,
        True,
    )
    assert req.objectives == ["accuracy:max", "latency_ms:min"] and req.overrides == ["train.epochs=1"]
    assert req.refine == 2 and req.sampler == "tpe"


def test_a_study_saves_every_study_option() -> None:
    saved = {f.name: f.default for f in fields(StudySettings)}
    assert all(saved[f.name] == f.default for f in fields(StudyOptions))


def test_kw_tune_takes_every_setting_by_name(tmp_path: Path, lr_space: str) -> None:
    study = kw.tune(
        EXAMPLE, lr_space, trials=2, sampler="random", out=tmp_path / "s", quiet=True,
        overrides=[*TINY, "train.epochs=1"], pruner_startup=1, heartbeat=5,
    )  # fmt: skip
    assert len(study.rows) == 2
    saved = study.summary["settings"]
    assert (saved["sampler"], saved["pruner_startup"], saved["heartbeat"]) == ("random", 1, 5)
    assert (saved["pruner"], saved["grace"], saved["population"]) == ("none", 30, 1)  # left out: defaults
