"""export: ONNX and TorchScript files take [0, 1] images (the normalization is inside), have a
dynamic batch axis, and reproduce PyTorch within 1e-4 on 64 real images, checked by running them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from knobwise.errors import ConfigError, ExportError
from knobwise.run import BaseRun, export, load_inputs, predict


@pytest.fixture(scope="module")
def trained(digits_png_run: tuple[Path, Path]) -> tuple[torch.nn.Module, dict, torch.Tensor]:
    run_dir, root = digits_png_run
    run = BaseRun(run_dir, device="cpu")
    model, meta = run.model, run.meta
    images = load_inputs(root, meta["input_shape"]).x[::3][:64]  # 64 real digits, every class
    assert images.shape == (64, 1, 8, 8)
    return model, meta, images


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_onnx_matches_pytorch_and_predict(trained, tmp_path: Path) -> None:
    model, meta, images = trained
    out = export(model, meta, tmp_path / "m.onnx", "onnx", check_inputs=images)
    assert out.path == tmp_path / "m.onnx" and out.format == "onnx" and out.examples == 64
    assert out.max_abs_diff <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # one file, no temporaries
    # Run by ONNX Runtime here too, on a batch size the export never saw, from [0, 1] images.
    session = ort.InferenceSession(str(out.path), providers=["CPUExecutionProvider"])
    for batch in (images, images[:5]):
        logits = session.run(["logits"], {"images": batch.numpy()})[0]
        np.testing.assert_allclose(_softmax(logits), predict(model, meta, batch).proba, atol=1e-5, rtol=0)
    about = json.loads({p.key: p.value for p in onnx.load(str(out.path)).metadata_props}["knobwise"])
    assert about["classes"] == meta["classes"] and about["input_shape"] == [1, 8, 8]


def test_torchscript_matches_pytorch(trained, tmp_path: Path) -> None:
    model, meta, images = trained
    out = export(model, meta, tmp_path / "m.pt", "torchscript", check_inputs=images)
    assert out.format == "torchscript" and out.max_abs_diff <= 1e-4 and out.examples == 64
    extra = {"knobwise.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated since 2.9
        loaded = torch.jit.load(str(out.path), _extra_files=extra)
    with torch.no_grad():
        proba = torch.softmax(loaded(images[:7]), 1).numpy()
    np.testing.assert_allclose(proba, predict(model, meta, images[:7]).proba, atol=1e-5, rtol=0)
    assert json.loads(extra["knobwise.json"])["classes"] == meta["classes"]


class _Branchy(torch.nn.Module):
    """Data-dependent control flow: tracing freezes the branch of the example batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)[:, :2]
        return flat * 2 if bool(x.mean() > 0.5) else flat - 1


def test_a_file_that_differs_from_pytorch_is_refused_and_not_written(tmp_path: Path) -> None:
    meta = {
        "classes": ["a", "b"],
        "input_shape": [1, 2, 2],
        "data": {"normalizer": {"mode": "none", "shift": [0.0], "scale": [1.0]}},
    }
    images = torch.cat([torch.ones(2, 1, 2, 2), torch.zeros(6, 1, 2, 2)])  # traced on the ones
    with pytest.raises(ExportError, match=r"differs from PyTorch by 2 .*on 8 images; allowed 0\.0001"):
        export(_Branchy(), meta, tmp_path / "m.pt", "torchscript", check_inputs=images)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, meta, images = trained
    with pytest.raises(ConfigError, match=r"format must be one of onnx, torchscript, got 'tflite'"):
        export(model, meta, tmp_path / "m.tflite", "tflite")
    with pytest.raises(ConfigError, match=r"the folder .*nowhere does not exist"):
        export(model, meta, tmp_path / "nowhere" / "m.pt", "torchscript")
    with pytest.raises(ConfigError, match=r"is a folder; give a file name such as model\.onnx"):
        export(model, meta, tmp_path, "onnx")
    with pytest.raises(ConfigError, match=r"tolerance must be >= 0, got -1"):
        export(model, meta, tmp_path / "m.pt", "torchscript", tolerance=-1)
    monkeypatch.setitem(__import__("sys").modules, "onnxscript", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs onnxscript: pip install 'knobwise\[export\]'"):
        export(model, meta, tmp_path / "m.onnx", "onnx", check_inputs=images)


def test_run_export_checks_on_the_runs_own_images(digits_png_run: tuple[Path, Path], tmp_path: Path) -> None:
    import knobwise as kw

    result = kw.load_run(digits_png_run[0], device="cpu").export(tmp_path / "model.pt")
    assert result.format == "torchscript" and result.max_abs_diff <= 1e-4 and result.examples > 0
    assert (tmp_path / "model.pt").is_file()


def test_normalized_model_applies_the_keras_preprocessing_steps() -> None:
    """Samplewise centring/std and ZCA whitening are in the exported graph's normalization too."""
    from knobwise.data import Normalizer
    from knobwise.data._keras_preprocess import fit_steps
    from knobwise.run import NormalizedModel

    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (64, 1, 4, 4), generator=g, dtype=torch.uint8)
    norm = Normalizer.fit(raw.numpy(), "standardize", pixel_max=255)
    opts = {"samplewise_center": True, "samplewise_std_normalization": True, "zca_whitening": True}
    norm = norm.with_steps(fit_steps(norm(raw), opts))
    assert [s["kind"] for s in norm.steps] and any(s["kind"] == "zca" for s in norm.steps)
    net = NormalizedModel(torch.nn.Identity(), norm)
    x = raw.float() / 255
    torch.testing.assert_close(net(x), norm(raw), rtol=1e-4, atol=1e-4)
