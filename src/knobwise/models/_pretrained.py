"""Transfer learning, the weights: load the tensors of a trained model that match by name and shape.

``model.pretrained`` is a run directory (its ``model.safetensors``) or any ``.safetensors`` file
whose tensor names follow the layer list (``conv2d_1.conv.weight``, ``residual_2.layers.conv2d_1
.conv.weight``, ...). A tensor is *loaded* when the model has one of the same name and shape; the
model's other tensors are *new* (a classifier head for a different number of classes keeps its
fresh initialization); the file's tensors with no counterpart, or a different shape, are *skipped*.
Nothing is unpickled: safetensors holds plain tensors.

Example:
    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> from knobwise.models._layers import build_from_layers
    >>> source = build_from_layers([{"conv2d": {"filters": 2, "kernel_size": 3}}, "flatten",
    ...                             {"dense": {"units": 5}}], (1, 4, 4))
    >>> path = tempfile.mkdtemp() + "/weights.safetensors"
    >>> save_file(source.state_dict(), path)
    >>> target = build_from_layers([{"conv2d": {"filters": 2, "kernel_size": 3}}, "flatten",
    ...                             {"dense": {"units": 3}}], (1, 4, 4))
    >>> report = load_pretrained(target, path)
    >>> report.loaded, report.new
    (['conv2d_1.conv.bias', 'conv2d_1.conv.weight'], ['dense_1.linear.bias', 'dense_1.linear.weight'])
    >>> torch.equal(target[0].conv.weight, source[0].conv.weight)
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from knobwise.errors import ConfigError, ModelError

__all__ = ["PretrainedReport", "load_pretrained", "pretrained_file", "source_classes"]


@dataclass
class PretrainedReport:
    """What :func:`load_pretrained` did, tensor by tensor name."""

    source: str
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why

    def line(self) -> str:
        """One log line: counts and, when present, what the new and skipped tensors are."""
        text = (
            f"pretrained {self.source}: {len(self.loaded)} tensors loaded, {len(self.new)} new, "
            f"{len(self.skipped)} skipped"
        )
        if self.new:
            text += f"; new: {_short(self.new)}"
        if self.skipped:
            text += f"; skipped: {_short([f'{k} ({v})' for k, v in self.skipped.items()])}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the run's metadata)."""
        return {"source": self.source, "loaded": self.loaded, "new": self.new, "skipped": self.skipped}


def _short(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names) - n} more)" if len(names) > n else "")


def _shape(t: torch.Tensor) -> str:
    return "x".join(str(s) for s in t.shape) or "scalar"


def pretrained_file(source: str | Path, key: str = "model.pretrained") -> Path:
    """The safetensors file ``source`` names: a run directory's ``model.safetensors`` or the file.

    >>> pretrained_file("/nonexistent/run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    knobwise.errors.ConfigError: model.pretrained: /nonexistent/run does not exist (a run directory ...)
    """
    path = Path(source).expanduser()
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise ConfigError(f"{key}: {path} has no model.safetensors (not a finished run directory)")
        return weights
    if not path.exists():
        raise ConfigError(f"{key}: {path} does not exist (a run directory or a .safetensors file)")
    if path.suffix != ".safetensors":
        raise ConfigError(f"{key}: {path} is not a .safetensors file or a run directory")
    return path


def source_classes(source: str | Path) -> list[str] | None:
    """The class names of a source run (its ``model.json``), or None for a bare file."""
    meta = Path(source).expanduser() / "model.json"
    try:
        classes = json.loads(meta.read_text(encoding="utf-8")).get("classes") if meta.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


def load_pretrained(
    model: nn.Module,
    source: str | Path,
    key: str = "model.pretrained",
    skip: dict[str, str] | None = None,
) -> PretrainedReport:
    """Copy into ``model`` the tensors of ``source`` that match by name and shape; report the rest.

    ``skip`` maps parameter-name prefixes to a reason to leave them new (a head whose classes
    differ). A source with no matching tensor at all is bad input (a :class:`ConfigError` naming
    it): it was not trained with a layer list this model shares.
    """
    path = pretrained_file(source, key)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"{key}: {path} is not a readable safetensors file ({exc})") from None
    own = model.state_dict()
    report = PretrainedReport(str(path))
    matched: dict[str, torch.Tensor] = {}
    for name, tensor in sorted(tensors.items()):
        why = next((r for p, r in (skip or {}).items() if name == p or name.startswith(p + ".")), None)
        if why is not None:
            report.skipped[name] = why
        elif name not in own:
            report.skipped[name] = "not in the model"
        elif own[name].shape != tensor.shape:
            report.skipped[name] = f"shape {_shape(tensor)}, the model has {_shape(own[name])}"
        else:
            matched[name] = tensor
    if not matched:
        example = next(iter(sorted(tensors)), "none")
        raise ConfigError(
            f"{key}: {path} has no tensor matching the model by name and shape ({len(tensors)} tensors, "
            f"e.g. {example!r}; the model has e.g. {next(iter(own), 'none')!r}); use the weights of a "
            "run with the same layer list or zoo model"
        )
    with torch.no_grad():
        for name, tensor in matched.items():
            target = own[name]
            if target.is_meta:
                raise ModelError(f"{key}: cannot load into a model on the meta device")
            target.copy_(tensor.to(dtype=target.dtype))  # same bits for the same dtype
    report.loaded = list(matched)
    report.new = sorted(n for n in own if n not in matched and not n.endswith("num_batches_tracked"))
    return report
