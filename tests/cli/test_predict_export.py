"""knobwise predict / export on a trained PNG-digits run: the run's own test images reproduce
predictions.npz; an exported file is verified on 64 real images; bad input is one line, exit 2."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from knobwise.cli import main
from knobwise.metrics import load_predictions


def _test_files(run_dir: Path, root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    saved = load_predictions(run_dir / "predictions.npz")["test"]
    classes = json.loads((run_dir / "model.json").read_text())["classes"]
    assert saved.ids is not None
    return [str(root / i) for i in saved.ids], saved.proba, classes


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err


def test_predict_reproduces_predictions_npz(digits_png_run, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, root = digits_png_run
    files, proba, classes = _test_files(run_dir, root)
    assert main(["predict", str(run_dir), *files, "--top", "10", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == classes
    got = np.array([[dict((t["class"], t["probability"]) for t in p["top"])[c] for c in classes]
                    for p in doc["predictions"]])  # fmt: skip
    assert [p["id"] for p in doc["predictions"]] == files
    np.testing.assert_allclose(got, proba, atol=1e-5, rtol=0)


def test_predict_text_and_csv(digits_png_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, root = digits_png_run
    assert main(["predict", str(run_dir), str(root / "7"), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20 and lines[0].startswith(str(root / "7" / "00.png"))
    assert len(lines[0].split()) == 5  # id, then class and probability twice
    assert main(["predict", str(run_dir), str(root / "7"), "--csv", str(tmp_path / "p.csv")]) == 0
    assert "wrote" in capsys.readouterr().out
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and set(rows[0]) == {"id", "class", "probability"}
    assert sum(r["class"] == "7" for r in rows) >= 10


def test_predict_bad_input_is_one_line(digits_png_run, tmp_path: Path, capsys) -> None:
    from PIL import Image

    run_dir, root = digits_png_run
    Image.open(root / "1" / "00.png").resize((16, 16)).save(tmp_path / "big.png")
    _one_error_line(
        capsys,
        ["predict", str(run_dir), str(tmp_path / "big.png")],
        r"^knobwise predict: error: predict: image .*big\.png is 1x16x16 but the model takes 1x8x8 \(CxHxW\)",
    )
    assert main(["predict", str(run_dir), str(tmp_path / "big.png"), "--resize"]) == 0
    capsys.readouterr()
    _one_error_line(
        capsys, ["predict", str(run_dir), str(tmp_path / "nope.png")], r"no such file or folder: .*nope\.png"
    )
    _one_error_line(capsys, ["predict", str(tmp_path), str(root)], r"not a knobwise run")
    _one_error_line(
        capsys, ["predict", str(run_dir), str(root), "--top", "0"], r"top must be an integer from 1 to 10"
    )


def test_export_onnx_and_torchscript(digits_png_run, tmp_path: Path, capsys) -> None:
    run_dir, _ = digits_png_run
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.pt")):
        assert main(["export", str(run_dir), "--format", fmt, "--out", str(tmp_path / name), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["format"] == fmt and doc["path"] == str(tmp_path / name)
        assert doc["examples"] == 64 and doc["max_abs_diff"] <= 1e-4  # 40 test + 24 dev images
        assert (tmp_path / name).is_file()


def test_export_bad_input_is_one_line(digits_png_run, tmp_path: Path, capsys, monkeypatch) -> None:
    run_dir, _ = digits_png_run
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects it before the command runs
        main(["export", str(run_dir), "--format", "tflite"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    _one_error_line(
        capsys,
        ["export", str(run_dir), "--out", str(tmp_path / "no" / "m.onnx")],
        r"the folder .*no does not exist",
    )
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the export extra were missing
    _one_error_line(
        capsys,
        ["export", str(run_dir), "--out", str(tmp_path / "m.onnx")],
        r"^knobwise export: error: export --format onnx needs onnxruntime: pip install 'knobwise\[export\]'",
    )
