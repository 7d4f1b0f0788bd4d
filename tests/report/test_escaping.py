"""User strings (class names, the run name, config values) reach the page as text, never as markup."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from browser import assert_clean, check_page

from knobwise.cli import main

SCRIPT = "<script>alert(1)</script>"
ATTR = '" onerror="alert(2)'


def _poison(run: Path) -> None:
    """Class names, run name and a config string carrying markup, in every file the report reads."""
    evil = [f"{SCRIPT}{i}" if i % 2 else f"c{i}{ATTR}" for i in range(10)]
    model = json.loads((run / "model.json").read_text())
    model["classes"] = evil
    (run / "model.json").write_text(json.dumps(model))
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("train", "dev", "test"):
        m = metrics[split]
        m["classes"] = evil
        m["per_class"] = {evil[int(k)]: v for k, v in m.get("per_class", {}).items()}
    (run / "metrics.json").write_text(json.dumps(metrics))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["name"] = f"run {SCRIPT}{ATTR}"
    # a free-text config string: a comment the resolved-config section shows verbatim
    (run / "config.yaml").write_text(f"# note: {SCRIPT} {ATTR}\n" + yaml.safe_dump(cfg))


def test_user_strings_are_escaped(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "evil-run"
    shutil.copytree(runs[0], run)
    _poison(run)
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "onerror=" not in html.lower().replace("&#34; onerror=&#34;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34; onerror=&#34;alert(2)" in html
    check = check_page(run / "report.html", tmp_path)
    assert_clean(check, min_images=4)  # the only script is the test's probe; no onerror attribute
    assert f"run {SCRIPT}{ATTR}" in check.text  # shown as the text it is
    assert f"{SCRIPT}1" in check.text and f"c0{ATTR}" in check.text  # class names in the tables
    assert f"# note: {SCRIPT} {ATTR}" in check.text  # the config text


def test_comparison_escapes_run_names(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "evil-run"
    shutil.copytree(runs[0], run)
    _poison(run)
    out = tmp_path / "cmp.html"
    assert main(["report", str(run), str(runs[1]), "--out", str(out)]) == 0
    html = out.read_text()
    assert "<script" not in html.lower()
    check = check_page(out, tmp_path)
    assert_clean(check, min_images=1)
    assert f"run {SCRIPT}{ATTR}" in check.text
