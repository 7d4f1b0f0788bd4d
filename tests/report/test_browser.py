"""Every kind of report opened in headless Chromium: no errors, every image decoded, readable at
1280 px (screenshots are kept under pytest's temporary folder for a person to look at)."""

from __future__ import annotations

import re
from pathlib import Path

from browser import assert_clean, check_page, screenshot
from PIL import Image

from knobwise.cli import main

RUN_SECTIONS = [
    "Optimizing metric and constraints",
    "Metrics per split",
    "Learning curves",
    "Confusion matrix and classification report",
    "Misclassified and lowest-confidence examples",
    "What the network looks at",
    "Diagnosis and knobs",
    "Error analysis",
    "Suspected label issues",
    "Augmentation preview",
    "Model summary",
    "Resolved config",
]


def _shot(report: Path, tmp_path: Path) -> None:
    png = screenshot(report, tmp_path / f"{report.stem}.png")
    with Image.open(png) as img:
        assert img.size == (1280, 2000)
        # a page, not a blank: many distinct colors in the top of the screenshot
        assert len(img.convert("RGB").crop((0, 0, 1280, 1000)).getcolors(1 << 20) or []) > 50


def test_run_report_written_by_train_opens_cleanly(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = runs[0]
    report = run / "report.html"
    assert report.is_file()
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert {"learning_curves.png", "misclassified_dev.png", "explain_dev.png"} <= set(figures)
    check = check_page(report, tmp_path)
    assert_clean(check, min_images=4)
    for title in RUN_SECTIONS:
        assert title in check.text
    assert "digits_cnn" in check.text and "adam-lr3e-3" in check.text
    assert "Classification report (dev)" in check.text
    # the confusion matrices are coloured tables: counts and row-normalized, per split
    assert "dev: counts; blank cells are 0" in check.text and "test: row-normalized" in check.text
    assert "true \\ predicted" in check.text
    assert "95% interval" in check.text and " n=" in check.text  # every rate with its interval and n
    _shot(report, tmp_path)


def test_report_command_rebuilds_a_run_report(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "again.html"
    assert main(["report", str(runs[1]), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert_clean(check_page(out, tmp_path), min_images=4)


def test_comparison_report_opens_cleanly(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    assert main(["report", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    check = check_page(out, tmp_path)
    assert_clean(check, min_images=1)
    for text in (
        "Runs side by side",
        "Selection verdict",
        "Winner:",
        "adam-lr3e-3",
        "adam-lr3e-2",
        "train.optimizer.lr",
    ):
        assert text in check.text
    links = re.findall(r'href="([^"#]+)"', out.read_text())
    assert len(links) == 2 and all((out.parent / h).resolve().is_file() for h in links)
    _shot(out, tmp_path)


def test_study_report_opens_cleanly(study_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(study_dir)]) == 0
    report = study_dir / "report.html"
    check = check_page(report, tmp_path)
    assert_clean(check, min_images=4)  # history, parallel coordinates, importances, Pareto front
    alts = {i["alt"] for i in check.images}
    assert {"Optimization history", "Parallel coordinates", "Parameter importances", "Pareto front"} <= alts
    links = re.findall(r'href="([^"#]+)"', report.read_text())
    assert links and all((report.parent / h).resolve().is_file() for h in links)
    assert any(h.endswith("trials/0000/report.html") for h in links)
    _shot(report, tmp_path)
