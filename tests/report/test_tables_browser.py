"""Report tables read cleanly in Chromium: the diagnosis, error-analysis, label-issue and
coarse-to-fine rounds tables show no raw JSON, no header is broken across lines, CSV columns get
readable headers and yes/no, and suspected label issues come with thumbnails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from browser import assert_clean, check_page

from knobwise.cli import main


def _section(text: str, title: str, next_titles: list[str]) -> str:
    start = text.rindex(title)  # the heading, after the contents list at the top
    ends = [text.find(t, start + len(title)) for t in next_titles]
    end = min([e for e in ends if e > 0], default=len(text))
    return text[start:end]


def test_run_report_tables_read_cleanly(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    assert main(["errors", str(run), "--label-issues", "--folds", "2", "--epochs", "1", "--top", "12"]) == 0
    assert main(["report", str(run)]) == 0
    check = check_page(run / "report.html", tmp_path)
    assert_clean(check, min_images=5)  # confusion matrices are tables, not images
    assert check.wrapped_headers == []
    diagnosis = _section(check.text, "Diagnosis and knobs", ["Error analysis"])
    labels = _section(check.text, "Suspected label issues", ["Augmentation preview", "Model summary"])
    errors = _section(check.text, "Error analysis", ["Suspected label issues"])
    assert "Verdict: " in diagnosis and "knob" in diagnosis and "per class" in errors
    for part in (diagnosis, labels, errors):
        assert '{"' not in part and "True" not in part and "False" not in part, part[:500]
    assert "self confidence" in labels and "self_confidence" not in labels
    assert "cluster disagrees" not in labels  # empty in every row without --clusters
    assert any(i["alt"].startswith("Suspected label issues") for i in check.images)
    assert "value on dev" in check.text


def test_rounds_table_shows_ranges_not_json(study_dir: Path, tmp_path: Path) -> None:
    study = tmp_path / "study"
    shutil.copytree(study_dir, study)
    info = json.loads((study / "study.json").read_text())
    space = {
        "train.optimizer.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
        "train.batch_size": {"type": "categorical", "choices": [16, 64]},
    }
    info["rounds"] = [
        {"index": 0, "space": space, "n_trials": 3, "best": [{"train.optimizer.lr": 0.01}]},
        {"index": 1, "space": {**space, "train.optimizer.lr": {**space["train.optimizer.lr"], "low": 0.005}}},
    ]
    (study / "study.json").write_text(json.dumps(info))
    assert main(["report", str(study)]) == 0
    check = check_page(study / "report.html", tmp_path)
    assert_clean(check, min_images=2)
    assert check.wrapped_headers == []
    rounds = _section(check.text, "Coarse-to-fine rounds", ["All trials"])
    assert "{" not in rounds and '"' not in rounds, rounds
    assert "train.optimizer.lr: 0.0050 … 0.1000 (log)" in rounds
    assert "train.batch_size: 16 | 64" in rounds
