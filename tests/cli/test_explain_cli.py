"""`knobwise explain`: grids, JSON maps, files, filters, boxes, the diagnose hook and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from knobwise.cli import main

TINY = ["--set", "train.epochs=2", "--set", "data.limit=300", "--quiet"]


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "cnn"
    assert main(["train", "--out", str(out), *TINY]) == 0  # the quickstart's digits_cnn
    return out


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "mlp"
    assert main(["train", "--out", str(out), *TINY, "--set", "model.name=mlp"]) == 0
    return out


def test_grid_and_json_inside_the_run(cnn_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(cnn_run), "--which", "lowest", "--n", "16", "--target", "both", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    ex = out["explanation"]
    assert ex["method"] == "gradcam" and ex["layer"] and ex["which"] == "lowest"
    assert len(ex["examples"]) == 16 and ex["input_size"] == [8, 8]
    first = ex["examples"][0]
    assert [a["target_kind"] for a in first["attributions"]] == ["pred", "true"]
    assert len(first["attributions"][0]["map"]) == 8 and len(first["attributions"][0]["map"][0]) == 8
    # written into the run directory, never the current folder
    assert (cnn_run / "explain" / "explain.png").is_file()
    saved = json.loads((cnn_run / "explain" / "explain.json").read_text())
    assert saved["examples"][0]["id"] == first["id"]
    with Image.open(cnn_run / "explain" / "explain.png") as img:
        assert img.size[0] > 600


def test_text_output_and_methods(cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for method in ("saliency", "integrated_gradients", "occlusion"):
        out = tmp_path / method
        assert main(["explain", str(cnn_run), "--method", method, "--n", "4", "--out", str(out)]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"{method}: ") and f"wrote {out / 'explain.png'}" in text
        assert "hint" in text or "predicted" in text


def test_files_and_filters(cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray((np.random.default_rng(i).random((16, 16)) * 255).astype(np.uint8)).save(p)
        files.append(str(p))
    out = tmp_path / "out"
    assert main(["explain", str(cnn_run), "--files", *files, "--method", "occlusion", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 image files" in text and "true ?" in text
    assert main(["explain", str(cnn_run), "--filters", "--out", str(out), "--json"]) == 0
    f = json.loads(capsys.readouterr().out)["filters"]
    assert f["layer"] == "conv2d_1" and f["filters"] > 0
    assert (out / "filters.png").is_file() and (out / "feature_maps.png").is_file()
    assert main(["explain", str(cnn_run), "--files", *files, "--target", "true"]) == 2
    assert "--target true needs true labels" in capsys.readouterr().err


def test_boxes_warn_in_explain_diagnose_and_report(cnn_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["explain", str(cnn_run), "--which", "confident", "--n", "6", "--json"]) == 0
    ids = [e["id"] for e in json.loads(capsys.readouterr().out)["explanation"]["examples"]]
    tiny = tmp_path / "tiny.csv"  # a 1-pixel "object" in the corner: almost all evidence lies outside
    tiny.write_text("id,x0,y0,x1,y1\n" + "".join(f"{i},0,0,1,1\n" for i in ids))
    assert main(["explain", str(cnn_run), "--which", "confident", "--n", "6", "--boxes", str(tiny)]) == 0
    text = capsys.readouterr().out
    assert "warning: on average" in text and "may be using the surroundings" in text
    assert (cnn_run / "explain" / "surroundings.json").is_file()
    assert main(["diagnose", str(cnn_run), "--json"]) == 0  # the saved verdict
    assert "may be using the surroundings" in json.loads(capsys.readouterr().out)["surroundings"]["warning"]
    whole = tmp_path / "whole.csv"  # the whole image as the object: nothing lies outside
    whole.write_text("id,x0,y0,x1,y1\n" + "".join(f"{i},0,0,8,8\n" for i in ids))
    assert main(["diagnose", str(cnn_run), "--boxes", str(whole)]) == 0
    text = capsys.readouterr().out
    assert "surroundings: 100% of the attribution mass inside the objects" in text and "warning" not in text
    assert main(["report", str(cnn_run)]) == 0
    html = (cnn_run / "report.html").read_text()
    assert "What the network looks at" in html and "surroundings warning" in html


def test_bad_input(cnn_run: Path, mlp_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def fails(*args: str) -> str:
        assert main(["explain", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err

    assert "--method gradcam needs a convolutional layer" in fails(str(mlp_run))
    assert "unknown attribution method 'saliancy'; did you mean 'saliency'" in fails(
        str(cnn_run), "--method", "saliancy"
    )
    assert "--layer: the model has no layer 'conv9'" in fails(str(cnn_run), "--layer", "conv9")
    assert "--which class:eleven: no such class" in fails(str(cnn_run), "--which", "class:eleven")
    assert "--n must be >= 1, got 0" in fails(str(cnn_run), "--n", "0")
    assert "no such file" in fails(str(cnn_run), "--files", str(tmp_path / "missing.png"))
    assert "not a knobwise run" in fails(str(tmp_path))
    assert "give either --boxes or --masks" in fails(str(cnn_run), "--boxes", "a.csv", "--masks", "m")
    assert main(["diagnose", "--train-error", "5", "--dev-error", "6", "--boxes", "a.csv"]) == 2
    assert "--boxes/--masks need a RUN directory" in capsys.readouterr().err


def test_missing_captum_names_the_extra(
    cnn_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "captum", None)  # what an install without the extra looks like
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    assert main(["explain", str(cnn_run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'knobwise[explain]'" in err
