"""Checkpoints for resume: tensors in safetensors, everything else in JSON, written atomically.

Layout: ``checkpoint/epoch-NNNN/{state.safetensors,state.json}`` and ``checkpoint/latest`` naming
the newest complete one. A checkpoint folder is written under a temporary name and renamed, then
``latest`` is replaced atomically, then older folders are removed: a kill at any moment leaves the
previous checkpoint readable.

Example:
    >>> import tempfile, torch
    >>> d = tempfile.mkdtemp()
    >>> save_checkpoint(d, 1, {"model.w": torch.ones(2)}, {"epoch": 1}).name
    'epoch-0001'
    >>> tensors, state = load_checkpoint(d)
    >>> state["epoch"], tensors["model.w"].tolist()
    (1, [1.0, 1.0])
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from knobwise.errors import RunError
from knobwise.io import atomic_save_tensors, atomic_write_text, load_tensors

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "pack_optimizer", "unpack_optimizer"]


def save_checkpoint(
    root: str | Path, epoch: int, tensors: dict[str, torch.Tensor], state: dict[str, Any]
) -> Path:
    """Write checkpoint ``epoch`` (completed epochs) under ``root`` and point ``latest`` at it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epoch:04d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    atomic_save_tensors(tmp / "state.safetensors", tensors)
    # allow_nan: internal state (e.g. an early-stopping best of inf) must round-trip exactly.
    atomic_write_text(tmp / "state.json", json.dumps(state, allow_nan=True))
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", name + "\n")
    for old in root.iterdir():
        if old.name != name and old.name != "latest" and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    pointer = root / "latest"
    if pointer.is_file():
        cand = root / pointer.read_text().strip()
        if (cand / "state.json").is_file() and (cand / "state.safetensors").is_file():
            return cand
    done = sorted(
        p
        for p in root.glob("epoch-*")
        if (p / "state.json").is_file() and (p / "state.safetensors").is_file()
    )
    return done[-1] if done else None


def load_checkpoint(root: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and state of the newest checkpoint under ``root``."""
    path = latest_checkpoint(root)
    if path is None:
        raise RunError(f"{root}: no complete checkpoint to resume from")
    state = json.loads((path / "state.json").read_text())
    return load_tensors(path / "state.safetensors"), state


def pack_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            elif isinstance(value, list | tuple) and any(isinstance(t, torch.Tensor) for t in value):
                # L-BFGS keeps its curvature pairs as lists of tensors (unfilled slots are None).
                for i, t in enumerate(value):
                    if t is not None:
                        tensors[f"optim.{pid}.{key}.{i}"] = t
                scalars.setdefault(str(pid), {})[key] = {"tensor_list": len(value)}
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unpack_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of :func:`pack_optimizer`: load the state into ``opt``."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if not name.startswith("optim."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = tensor
    for pid, entry in meta.get("scalars", {}).items():
        value: Any
        for key, value in entry.items():
            if isinstance(value, dict) and "tensor_list" in value:
                side = state.setdefault(int(pid), {})
                value = [side.pop(f"{key}.{i}", None) for i in range(int(value["tensor_list"]))]
            state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
