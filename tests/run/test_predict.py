"""predict: the run's own test images reproduce predictions.npz; files, folders, .npz and arrays
agree; every bad input is one DataError line naming the file and what the model takes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from knobwise.errors import ConfigError, DataError
from knobwise.metrics import load_predictions
from knobwise.run import BaseRun, load_inputs, predict


@pytest.fixture(scope="module")
def trained(digits_png_run: tuple[Path, Path]) -> tuple[torch.nn.Module, dict, Path, Path]:
    run_dir, root = digits_png_run
    run = BaseRun(run_dir, device="cpu")
    model, meta = run.model, run.meta
    return model, meta, run_dir, root


def _test_files(run_dir: Path, root: Path) -> tuple[list[str], np.ndarray]:
    saved = load_predictions(run_dir / "predictions.npz")["test"]
    assert saved.ids is not None
    return [str(root / i) for i in saved.ids], saved.proba


def test_own_test_images_reproduce_predictions_npz(trained) -> None:
    model, meta, run_dir, root = trained
    files, proba = _test_files(run_dir, root)
    assert len(files) == 40
    p = predict(model, meta, files, batch_size=7)  # batches that do not divide the set
    assert p.ids == files
    assert p.proba.shape == proba.shape
    np.testing.assert_allclose(p.proba, proba, atol=1e-5, rtol=0)
    assert p.classes == [meta["classes"][i] for i in proba.argmax(1)]


def test_folder_npz_and_arrays_agree_with_files(trained, tmp_path: Path) -> None:
    model, meta, _, root = trained
    by_folder = predict(model, meta, root)
    assert len(by_folder) == 200
    assert by_folder.ids[:2] == [str(root / "0" / "00.png"), str(root / "0" / "01.png")]
    pixels = np.stack([np.asarray(Image.open(f)) for f in by_folder.ids])  # (N, 8, 8) uint8
    for arr in (pixels, pixels[..., None], pixels[:, None], torch.from_numpy(pixels)):
        got = predict(model, meta, arr)
        np.testing.assert_allclose(got.proba, by_folder.proba, atol=1e-6, rtol=0)
    floats = predict(model, meta, pixels.astype(np.float32) / 255.0)
    np.testing.assert_allclose(floats.proba, by_folder.proba, atol=1e-6, rtol=0)
    assert predict(model, meta, pixels[:3]).ids == ["0", "1", "2"]

    np.savez(tmp_path / "x.npz", x=pixels, y=np.zeros(len(pixels)))
    np.savez(tmp_path / "only.npz", images=pixels[:5])
    got = predict(model, meta, [tmp_path / "x.npz", tmp_path / "only.npz"])
    assert len(got) == 205 and got.ids[0] == f"{tmp_path / 'x.npz'}[0]"
    np.testing.assert_allclose(got.proba[:200], by_folder.proba, atol=1e-6, rtol=0)


def test_folder_skips_hidden_and_non_images(trained, tmp_path: Path) -> None:
    model, meta, _, root = trained
    img = Image.open(root / "3" / "00.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    img.save(tmp_path / "sub" / "b.png")
    img.save(tmp_path / "a.png")
    img.save(tmp_path / ".c.png")
    img.save(tmp_path / ".hidden" / "d.png")
    (tmp_path / "notes.txt").write_text("not an image")
    got = predict(model, meta, tmp_path)
    assert got.ids == [str(tmp_path / "a.png"), str(tmp_path / "sub" / "b.png")]


def test_prediction_rows_json_csv_and_repr(trained, tmp_path: Path) -> None:
    model, meta, run_dir, root = trained
    files, _ = _test_files(run_dir, root)
    p = predict(model, meta, files[:4], top=3)
    ranked = p.topk(3)
    assert [r[0][0] for r in ranked] == p.classes
    assert all(a[1] >= b[1] >= c[1] for a, b, c in ranked)
    np.testing.assert_allclose(p.top1, [r[0][1] for r in ranked])
    rows = p.to_rows()
    assert list(rows[0]) == [
        "id",
        "class",
        "probability",
        "class_2",
        "probability_2",
        "class_3",
        "probability_3",
    ]
    doc = json.loads(p.to_json())
    assert doc["classes"] == meta["classes"] and len(doc["predictions"][0]["top"]) == 3
    p.write_csv(tmp_path / "p.csv", top=1)
    with open(tmp_path / "p.csv") as fh:
        read = list(csv.DictReader(fh))
    assert [r["id"] for r in read] == files[:4] and list(read[0]) == ["id", "class", "probability"]
    assert repr(p).startswith("Prediction(4 images, 10 classes; ")


def test_wrong_size_image_names_the_file_and_the_expected_shape(trained, tmp_path: Path) -> None:
    model, meta, _, root = trained
    big = tmp_path / "big.png"
    Image.open(root / "1" / "00.png").resize((12, 10)).save(big)
    with pytest.raises(DataError, match=r"image .*big\.png is 1x10x12 but the model takes 1x8x8 \(CxHxW\)"):
        predict(model, meta, [root / "1" / "01.png", big])
    assert len(predict(model, meta, big, resize=True)) == 1


def test_bad_inputs_are_one_clear_line(trained, tmp_path: Path) -> None:
    model, meta, _, root = trained
    with pytest.raises(DataError, match=r"no such file or folder: .*missing\.png"):
        predict(model, meta, [root / "0" / "00.png", tmp_path / "missing.png"])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot decode image .*bad\.png"):
        predict(model, meta, tmp_path / "bad.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"folder .*empty has no image files"):
        predict(model, meta, tmp_path / "empty")
    with pytest.raises(DataError, match=r"has shape \(4, 3, 8, 8\) but the model takes 1x8x8"):
        predict(model, meta, np.zeros((4, 3, 8, 8), dtype=np.uint8))
    with pytest.raises(DataError, match=r"float pixels must lie in \[0, 1\], got values in \[0, 16\]"):
        predict(model, meta, np.linspace(0, 16, 128).reshape(2, 8, 8))
    with pytest.raises(DataError, match=r"dtype int64; allowed: uint8"):
        predict(model, meta, np.zeros((2, 8, 8), dtype=np.int64))
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 8, 8)), b=np.zeros((1, 8, 8)))
    with pytest.raises(DataError, match=r"two\.npz holds a, b; put the images under the key 'x'"):
        predict(model, meta, tmp_path / "two.npz")
    (tmp_path / "obj.npz").write_bytes(b"PK not really a zip")
    with pytest.raises(DataError, match=r"cannot read .*obj\.npz as a \.npz"):
        predict(model, meta, tmp_path / "obj.npz")
    with pytest.raises(ConfigError, match=r"top must be an integer from 1 to 10 .*got 11"):
        predict(model, meta, root / "0" / "00.png", top=11)
    with pytest.raises(DataError, match=r"inputs must be paths .*got dict"):
        predict(model, meta, {"a": 1})  # type: ignore[arg-type]


def test_object_arrays_in_npz_are_never_unpickled(trained, tmp_path: Path) -> None:
    model, meta, _, _ = trained
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"cannot read .*obj\.npz as a \.npz of numeric arrays"):
        predict(model, meta, tmp_path / "obj.npz")


def test_three_channel_models_need_a_batch_axis() -> None:
    with pytest.raises(DataError, match=r"add the batch axis for a single image"):
        load_inputs(np.zeros((3, 4, 4), dtype=np.uint8), (3, 4, 4))
    assert load_inputs(np.zeros((2, 4, 4, 3), dtype=np.uint8), (3, 4, 4)).x.shape == (2, 3, 4, 4)


def test_models_trained_on_float_arrays_take_floats_as_given() -> None:
    """pixel_max 1 (float arrays used as given in training): no [0, 1] range check, same math."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    norm = {"mode": "standardize", "shift": [8.0], "scale": [4.0], "pixel_max": 1.0}
    meta = {"classes": ["a", "b"], "input_shape": [1, 2, 2], "data": {"normalizer": norm}}
    x = np.linspace(0, 16, 8, dtype=np.float32).reshape(2, 2, 2)
    with torch.no_grad():
        expected = torch.softmax(model((torch.from_numpy(x)[:, None] - 8.0) / 4.0), 1).numpy()
    np.testing.assert_allclose(predict(model, meta, x).proba, expected, atol=1e-6, rtol=0)


def test_run_predict_reproduces_its_own_test_predictions(digits_png_run: tuple[Path, Path]) -> None:
    """The same through the run object (``kw.load_run(...).predict``)."""
    import knobwise as kw

    run_dir, root = digits_png_run
    run = kw.load_run(run_dir, device="cpu")
    files, proba = _test_files(run_dir, root)
    p = run.predict(files, top=3)
    np.testing.assert_allclose(p.proba, proba, atol=1e-5)
    assert p.classes == [run.classes[i] for i in proba.argmax(1)]
