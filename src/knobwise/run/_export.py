"""A deployable file of a trained model, with the training normalization inside, verified by running it.

The exported graph is :class:`~knobwise.run._normalized.NormalizedModel`: it takes float32 images
``(N, C, H, W)`` scaled to ``[0, 1]`` (what ``predict`` loads: uint8 pixels / 255) under the
input name ``images``, with a dynamic batch axis, and returns the logits ``(N, K)`` as ``logits``
(apply a softmax for probabilities). Formats:

- ``onnx``: ``torch.onnx.export`` (the ``torch.export``-based exporter, falling back to the
  TorchScript-based one if a model defeats it), one self-contained file; the class names, input
  shape and normalization are stored as metadata (``knobwise`` key, JSON). Needs the ``export``
  extra (``onnx``, ``onnxruntime``, ``onnxscript``).
- ``torchscript``: ``torch.jit.trace``; the same JSON is the ``knobwise.json`` extra file.

The file is written under a temporary name, run on the check images (ONNX Runtime for ONNX,
``torch.jit.load`` for TorchScript, a batch size other than the traced one, so the dynamic axis is
exercised) and compared with PyTorch; only a file within ``tolerance`` (max absolute difference of
the logits) is renamed into place, otherwise :class:`~knobwise.errors.ExportError` (exit code 1).

Example:
    >>> import tempfile, torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> meta = {"classes": ["cat", "dog"], "input_shape": [1, 2, 2],
    ...         "data": {"normalizer": {"mode": "standardize", "shift": [0.5], "scale": [0.2]}}}
    >>> out = export(model, meta, tempfile.mkdtemp() + "/m.pt", "torchscript",
    ...              check_inputs=torch.rand(8, 1, 2, 2))
    >>> out.format, out.examples, out.max_abs_diff <= 1e-4
    ('torchscript', 8, True)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.data import PreparedData
from knobwise.errors import ConfigError, DataError, ExportError
from knobwise.run._inputs import Inputs, load_inputs
from knobwise.run._normalized import NormalizedModel, normalizer_of

__all__ = ["EXPORT_FORMATS", "ExportResult", "export", "check_images"]

EXPORT_FORMATS = ("onnx", "torchscript")
_ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxscript")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote and how closely the file reproduces PyTorch.

    Attributes:
        path: the exported file.
        format: ``"onnx"`` or ``"torchscript"``.
        max_abs_diff: the largest absolute difference between the file's logits and PyTorch's.
        examples: how many check images were run.
        exporter: which exporter wrote the file.
    """

    path: Path
    format: str
    max_abs_diff: float
    examples: int
    exporter: str

    def __repr__(self) -> str:
        return (
            f"ExportResult({self.format} {self.path}, max |diff| {self.max_abs_diff:.2e} "
            f"on {self.examples} images, {self.exporter})"
        )


def check_images(data: PreparedData, n: int = 64) -> torch.Tensor:
    """Up to ``n`` real images of ``data`` scaled back to ``[0, 1]``, taken from test, then dev,
    then train (none when every split is empty): the inputs :func:`export` checks a file on.

    >>> from knobwise.config import DataConfig
    >>> from knobwise.data import prepare_data
    >>> x = check_images(prepare_data(DataConfig(dataset="digits", limit=100), seed=0), n=8)
    >>> tuple(x.shape), bool(x.min() >= 0) and bool(x.max() <= 1)
    ((8, 1, 8, 8), True)
    """
    if n < 1:
        raise ConfigError(f"export: the number of check images must be >= 1, got {n}")
    norm = data.normalizer
    shape = (1, norm.channels, 1, 1)
    shift = torch.tensor(norm.shift, dtype=torch.float32).view(shape)
    scale = torch.tensor(norm.scale, dtype=torch.float32).view(shape)
    parts: list[torch.Tensor] = []
    left = n
    for name in ("test", "dev", "train"):
        split = data.splits.get(name)
        if split is not None and len(split) and left > 0:
            parts.append(split.x[:left].detach().cpu().float())
            left -= len(parts[-1])
    if not parts:
        return torch.zeros((0, *data.input_shape))
    # Undo (x - shift) / scale; the rounding error (~1e-7) is far below the tolerance.
    return (torch.cat(parts) * scale + shift).clamp_(0.0, 1.0)


def _need_onnx() -> None:
    missing = []
    for name in _ONNX_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(f"export --format onnx needs {', '.join(missing)}: pip install 'knobwise[export]'")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' deprecation and progress chatter (``torch.jit`` is deprecated in
    PyTorch 2.9+; ``torch.onnx`` logs optional torchvision ops it skips)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # torch.onnx prints its progress on stdout, which would break `knobwise export --json`.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _description(meta: dict[str, Any]) -> str:
    return json.dumps(
        {
            "classes": list(meta["classes"]),
            "input_shape": list(meta["input_shape"]),
            "input": "float32 (N, C, H, W) images scaled to [0, 1]; output: logits (N, K)",
            "normalizer": meta["data"]["normalizer"],
        }
    )


def _write_onnx(net: torch.nn.Module, example: torch.Tensor, tmp: Path, about: str) -> str:
    # lazy: onnx is the optional `export` extra, needed only for ONNX files
    import onnx

    common: dict[str, Any] = {"input_names": ["images"], "output_names": ["logits"], "verbose": False}
    try:
        with _quiet():
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=True,
                external_data=False,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                **common,
            )
        exporter = "torch.onnx (torch.export)"
    except Exception:  # a model torch.export cannot capture: the TorchScript-based exporter
        try:
            with _quiet():
                torch.onnx.export(
                    net,
                    (example,),
                    str(tmp),
                    dynamo=False,
                    dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                    **common,
                )
        except Exception as exc:
            raise ExportError(f"export: torch.onnx cannot export this model ({_first_line(exc)})") from exc
        exporter = "torch.onnx (TorchScript-based)"
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "knobwise", about
    onnx.save(proto, str(tmp))
    return exporter


def _run_onnx(tmp: Path, x: torch.Tensor) -> np.ndarray:
    # lazy: onnxruntime is the optional `export` extra, needed only to check ONNX files
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["logits"], {"images": x.numpy()})[0])


def _write_torchscript(net: torch.nn.Module, example: torch.Tensor, tmp: Path, about: str) -> str:
    try:
        with _quiet():
            traced = torch.jit.trace(net, example)
    except Exception as exc:
        raise ExportError(f"export: torch.jit.trace cannot trace this model ({_first_line(exc)})") from exc
    with _quiet():
        torch.jit.save(traced, str(tmp), _extra_files={"knobwise.json": about})
    return "torch.jit.trace"


def _run_torchscript(tmp: Path, x: torch.Tensor) -> np.ndarray:
    with _quiet(), torch.no_grad():
        loaded = torch.jit.load(str(tmp), map_location="cpu")
        return np.asarray(loaded(x).numpy())


def export(
    model: torch.nn.Module,
    meta: dict[str, Any],
    path: str | os.PathLike[str],
    format: str = "onnx",
    *,
    check_inputs: Inputs | None = None,
    tolerance: float = 1e-4,
) -> ExportResult:
    """Export ``model`` (with ``meta``, the run's ``model.json``) to ``path`` and verify the file.

    ``check_inputs``: the real images the file is checked on (anything ``predict`` takes; a
    tensor from :func:`check_images` is typical); without them, 64 uniform random images are used.
    The model itself is left untouched (a CPU copy is exported).
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    if not tolerance >= 0:
        raise ConfigError(f"export: tolerance must be >= 0, got {tolerance}")
    if format == "onnx":
        _need_onnx()
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"export: {out} is a folder; give a file name such as model.{format}")
    if not out.parent.is_dir():
        raise ConfigError(f"export: the folder {out.parent} does not exist")
    shape = [int(v) for v in meta["input_shape"]]
    if check_inputs is None:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand((64, *shape), generator=gen)
    else:
        x = load_inputs(check_inputs, shape).x
    if len(x) == 0:
        raise DataError("export: no check images")
    net = NormalizedModel(copy.deepcopy(model).float().cpu().eval(), normalizer_of(meta)).eval()
    # Traced on 2 images and checked on all of them: a batch axis frozen at 2 would fail the check.
    example = torch.cat([x[:1], x[:1]]) if len(x) < 2 else x[:2]
    with torch.no_grad():
        expected = net(x).numpy()
    about = _description(meta)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if format == "onnx":
            exporter = _write_onnx(net, example, tmp, about)
            got = _run_onnx(tmp, x)
        else:
            exporter = _write_torchscript(net, example, tmp, about)
            got = _run_torchscript(tmp, x)
        if got.shape != expected.shape:
            raise ExportError(f"export: {out} returns shape {got.shape} for {expected.shape} expected")
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        if not diff <= tolerance:
            raise ExportError(
                f"export: the {format} file differs from PyTorch by {diff:.3g} (max absolute logit "
                f"difference on {len(x)} images; allowed {tolerance:g}); nothing written to {out}"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(path=out, format=format, max_abs_diff=diff, examples=len(x), exporter=exporter)
