"""The report's diagnosis section reads as words: no ``overfitting_to_dev`` or ``train_dev``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from knobwise.report._diagnosis import diagnosis_section
from knobwise.run import BaseRun

#: A snake_case identifier that is not part of a config path (``evaluate.human_error``).
_IDENTIFIER = r"(?<![.\w])[a-z]+_[a-z_]+\b"


def test_diagnosis_section_names_problems_in_words(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    metrics = json.loads((run / "metrics.json").read_text())
    for split, error in (("train", 1.0), ("dev", 1.5), ("test", 5.0)):
        metrics[split]["error"] = error  # test error 3.5 points above dev: overfitting to the dev set
    (run / "metrics.json").write_text(json.dumps(metrics))
    s = diagnosis_section(BaseRun(run))
    assert not s.notes, s.notes
    assert "Focus: overfitting to the dev set" in s.paragraphs
    assert ("high", "overfitting to the dev set") in s.items
    shown = [*s.paragraphs, *(f"{k} {v}" for k, v in s.items)]
    shown += [f"{t.caption} {' '.join(t.columns)}" for t in s.tables]
    shown += [str(row[0]) for t in s.tables if t.caption in ("curves", "gradients") for row in t.rows]
    assert not [t for t in shown if re.search(_IDENTIFIER, t)], shown
