"""What a user hands to ``predict``, turned into images scaled to ``[0, 1]`` and their ids.

Accepted inputs, checked against the model's ``input_shape`` ``(C, H, W)``:

- an **image file** (any format PIL reads): decoded exactly as the training folder loader does
  (PIL, converted to ``"L"`` for a 1-channel model and to ``"RGB"`` for a 3-channel one), then
  divided by 255; its id is the path as given;
- a **folder**: every image file under it (suffixes of the folder dataset), depth first in
  sorted order; hidden files and folders (name starting with ``.``), symlinked folders and other
  files are skipped; ids are ``folder/relative/path``;
- a **``.npz`` file** (read with ``allow_pickle=False``): its array ``x`` (the key of the
  ``arrays`` dataset), or its only array; ids are ``file.npz[i]``;
- a **numpy array or torch tensor**: ids are ``"0"``, ``"1"``, ...;
- a list or tuple of paths (files, folders, ``.npz``), taken in the order given.

Array rules: ``uint8`` pixels (0–255) are divided by 255, floating-point pixels must already lie
in ``[0, 1]`` (except for a model trained on float arrays, whose pixels training used as given,
normalizer ``pixel_max`` 1: there floats are used as given too); any other dtype is refused.
Layouts: ``(N, C, H, W)``, ``(N, H, W, C)``, and for a 1-channel model ``(N, H, W)``; a layout is
recognized only when its ``C``, ``H``, ``W`` equal the model's (``(N, C, H, W)`` wins when both
fit). A single image needs its batch axis (``x[None]``).

Image sizes are never changed silently: an image whose size differs from the model's is one
:class:`~knobwise.errors.DataError` naming the file and the expected ``CxHxW``, unless ``resize``
asks for the bilinear resize that ``data.image_size`` applies in training.

Example:
    >>> import numpy as np
    >>> batch = load_inputs(np.full((2, 8, 8), 255, dtype=np.uint8), (1, 8, 8))
    >>> tuple(batch.x.shape), float(batch.x.max()), batch.ids
    ((2, 1, 8, 8), 1.0, ['0', '1'])
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from knobwise.data import IMAGE_SUFFIXES, decode_image
from knobwise.errors import DataError

__all__ = ["InputBatch", "Inputs", "load_inputs", "NPZ_KEY"]

#: The key read from a ``.npz`` file that holds several arrays.
NPZ_KEY = "x"

#: What :func:`load_inputs` accepts.
Inputs = Union[str, os.PathLike, np.ndarray, torch.Tensor, Sequence[Union[str, os.PathLike]]]


@dataclass
class InputBatch:
    """Images ``x`` (float32 ``(N, C, H, W)`` in ``[0, 1]``, on the CPU) and one id per image."""

    x: torch.Tensor
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


def _scale(x: torch.Tensor, what: str, unit_range: bool = True) -> torch.Tensor:
    """uint8 → /255; float → checked to lie in [0, 1] (with ``unit_range``); float32 either way."""
    if x.dtype == torch.uint8:
        # The same float32 division the training loader applies (pixel_max 255).
        return x.to(torch.float32).div_(255.0)
    if not x.dtype.is_floating_point:
        raise DataError(f"{what} has dtype {x.dtype}; allowed: uint8 (0-255) or float in [0, 1]")
    x = x.to(torch.float32)
    if unit_range and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{what}: float pixels must lie in [0, 1], got values in [{lo:g}, {hi:g}]; "
                "pass uint8 0-255 pixels or divide by the maximum pixel value"
            )
    return x


def _array_layout(x: torch.Tensor, shape: tuple[int, int, int], what: str) -> torch.Tensor:
    """``x`` as ``(N, C, H, W)`` by matching the model's ``(C, H, W)``; DataError otherwise."""
    c, h, w = shape
    if x.ndim == 4 and tuple(x.shape[1:]) == (c, h, w):
        return x
    if x.ndim == 4 and tuple(x.shape[1:]) == (h, w, c):
        return x.permute(0, 3, 1, 2)
    if x.ndim == 3 and c == 1 and tuple(x.shape[1:]) == (h, w):
        return x[:, None]
    allowed = f"(N, {c}, {h}, {w}) or (N, {h}, {w}, {c})" + (f" or (N, {h}, {w})" if c == 1 else "")
    hint = "; add the batch axis for a single image (x[None])" if x.ndim == 3 and c != 1 else ""
    raise DataError(
        f"{what} has shape {tuple(x.shape)} but the model takes {_shape_text(shape)} (CxHxW) images; "
        f"allowed: {allowed}{hint}"
    )


def _from_array(
    arr: np.ndarray | torch.Tensor, shape: tuple[int, int, int], what: str, unit_range: bool = True
) -> torch.Tensor:
    if isinstance(arr, np.ndarray):
        if arr.dtype != np.uint8 and arr.dtype.kind != "f":
            raise DataError(f"{what} has dtype {arr.dtype}; allowed: uint8 (0-255) or float in [0, 1]")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        t = arr.detach().cpu()
    return _scale(_array_layout(t, shape, what), what, unit_range).contiguous()


def _read_npz(path: Path, shape: tuple[int, int, int], unit_range: bool) -> torch.Tensor:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            if NPZ_KEY in keys:
                key = NPZ_KEY
            elif len(keys) == 1:
                key = keys[0]
            else:
                raise DataError(
                    f"predict: {path} holds {', '.join(keys) or 'no arrays'}; put the images under "
                    f"the key {NPZ_KEY!r} (or store a single array)"
                )
            arr = z[key]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        # allow_pickle=False makes an object array a ValueError: nothing from the file is unpickled.
        raise DataError(f"predict: cannot read {path} as a .npz of numeric arrays ({exc})") from exc
    return _from_array(arr, shape, f"predict: {path}[{key!r}]", unit_range)


def _folder_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, depth first, sorted; hidden entries and symlinked folders skipped."""
    out: list[Path] = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            out.extend(_folder_files(path))
        elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            out.append(path)
    return out


def _decode_file(path: Path, shape: tuple[int, int, int], resize: bool) -> np.ndarray:
    c, h, w = shape
    if c not in (1, 3):
        raise DataError(f"predict: image files need a 1- or 3-channel model, this one takes {c} channels")
    arr, _ = decode_image(path, (h, w) if resize else None, "L" if c == 1 else "RGB", what="predict")
    if arr.shape != (c, h, w):
        raise DataError(
            f"predict: image {path} is {_shape_text(arr.shape)} but the model takes {_shape_text(shape)} "
            "(CxHxW); resize it, or pass resize=True (--resize)"
        )
    return arr


def _expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[Path, str]]:
    """(path, kind) for every input path; kind is "image" or "npz"; DataError for a missing one."""
    out: list[tuple[Path, str]] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files = _folder_files(path)
            if not files:
                raise DataError(
                    f"predict: folder {path} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            out.extend((f, "image") for f in files)
        elif path.is_file():
            out.append((path, "npz" if path.suffix.lower() == ".npz" else "image"))
        else:
            raise DataError(f"predict: no such file or folder: {path}")
    return out


def load_inputs(
    inputs: Inputs, input_shape: Sequence[int], *, resize: bool = False, unit_range: bool = True
) -> InputBatch:
    """Images of ``inputs`` (see the module docstring) as float32 ``(N, C, H, W)`` in ``[0, 1]``.

    ``input_shape`` is the model's ``(C, H, W)``; ``resize`` resizes image files to its ``H×W``
    (bilinear, as ``data.image_size`` does) instead of refusing other sizes; ``unit_range`` False
    accepts float pixels outside ``[0, 1]`` (a model trained on float arrays used as given).

    >>> import torch
    >>> load_inputs(torch.rand(3, 8, 8, 1), (1, 8, 8)).x.shape
    torch.Size([3, 1, 8, 8])
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3:
        raise DataError(f"predict: the model's input_shape must be (C, H, W), got {list(input_shape)}")
    shape3: tuple[int, int, int] = (shape[0], shape[1], shape[2])
    if isinstance(inputs, np.ndarray | torch.Tensor):
        what = "predict: the numpy array" if isinstance(inputs, np.ndarray) else "predict: the tensor"
        x = _from_array(inputs, shape3, what, unit_range)
        return InputBatch(x, [str(i) for i in range(len(x))])
    paths: Sequence[Any] = [inputs] if isinstance(inputs, str | os.PathLike) else inputs
    if not isinstance(paths, Sequence) or not all(isinstance(p, str | os.PathLike) for p in paths):
        raise DataError(
            f"predict: inputs must be paths (files, folders, .npz), a numpy array or a torch tensor, "
            f"got {type(inputs).__name__}"
        )
    chunks: list[torch.Tensor] = []
    ids: list[str] = []
    images: list[np.ndarray] = []

    def flush() -> None:
        if images:
            chunks.append(_scale(torch.from_numpy(np.stack(images)), "predict"))
            images.clear()

    for path, kind in _expand_paths(paths):
        if kind == "npz":
            flush()
            arr = _read_npz(path, shape3, unit_range)
            chunks.append(arr)
            ids.extend(f"{path}[{i}]" for i in range(len(arr)))
        else:
            images.append(_decode_file(path, shape3, resize))
            ids.append(str(path))
    flush()
    if not ids:
        raise DataError("predict: no inputs (give image files, folders, .npz files or an array)")
    return InputBatch(torch.cat(chunks) if len(chunks) > 1 else chunks[0], ids)
