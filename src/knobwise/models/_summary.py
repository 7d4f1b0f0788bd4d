"""Model summary: output shape and parameter count of each layer, totals, size and depth.

Counts follow Keras: a batch-norm layer over C channels has 4*C parameters, of which the running
mean and variance (2*C buffers in PyTorch) are non-trainable; ``num_batches_tracked`` is not a
parameter. ``size_mb`` is the bytes of every parameter and buffer (state dict) divided by 1e6.

Example:
    >>> from knobwise.models._layers import build_from_layers
    >>> model = build_from_layers(["flatten", "batchnorm", {"dense": {"units": 3}}], (1, 2, 2))
    >>> s = summarize(model, (1, 2, 2))
    >>> s.total_params, s.trainable_params, s.non_trainable_params, s.depth
    (31, 23, 8, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from rich.table import Table
from torch import nn

__all__ = ["LayerRow", "ModelSummary", "summarize"]

_BN_STATS = ("running_mean", "running_var")


class LayerRow(NamedTuple):
    """One row of the summary; ``output_shape`` excludes the batch dimension.

    ``level`` is the nesting depth: the layers inside a block (``residual``, ``parallel``) follow
    their block's row with ``level + 1``, and ``name`` is their path (``residual_1.layers.conv2d_1``,
    the prefix of their parameter names). A block's ``params`` include its layers'.
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    level: int = 0


@dataclass
class ModelSummary:
    """What :func:`summarize` measured; ``to_dict()`` is the ``knobwise summary --json`` output."""

    layers: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    size_mb: float = 0.0
    depth: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"layers": [{"name", "type", "output_shape", "params"}], "total_params", ...}``."""
        return {
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "output_shape": list(r.output_shape),
                    "params": r.params,
                    "level": r.level,
                }
                for r in self.layers
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "size_mb": self.size_mb,
            "depth": self.depth,
        }

    def render(self, title: str | None = None) -> Table:
        """A rich table of the layers, with the totals as its caption."""
        table = Table(title=title, caption=self.caption(), caption_justify="left")
        table.add_column("Layer")
        table.add_column("Type")
        table.add_column("Output shape")
        table.add_column("Params", justify="right")
        parents: list[str] = []  # the enclosing blocks' paths, one per level
        for r in self.layers:
            del parents[r.level :]
            # a nested layer shows its path inside its block: layers.conv2d_1, shortcut.conv2d_1, branch_0...
            name = r.name[len(parents[-1]) + 1 :] if parents else r.name
            parents.append(r.name)
            table.add_row(
                "  " * r.level + name, r.type, "x".join(str(s) for s in r.output_shape), f"{r.params:,}"
            )
        return table

    def caption(self) -> str:
        """The totals, one per line (Keras' summary footer)."""
        return (
            f"Total params: {self.total_params:,}\nTrainable params: {self.trainable_params:,}\n"
            f"Non-trainable params: {self.non_trainable_params:,}\nSize: {self.size_mb:.3f} MB\n"
            f"Depth (layers with weights): {self.depth}"
        )


def _bn_stat_count(module: nn.Module) -> int:
    """Running mean/var elements of the batch-norm layers in ``module`` (Keras non-trainable)."""
    return sum(
        getattr(m, stat).numel()
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for stat in _BN_STATS
    )


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters()) + _bn_stat_count(module)


def _layer_rows(module: nn.Module, prefix: str, level: int) -> list[tuple[str, str, nn.Module, int]]:
    """The layer-list entries under ``module``, depth first: a block, then the layers it holds."""
    rows: list[tuple[str, str, nn.Module, int]] = []
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if hasattr(child, "kind"):
            rows.append((path, str(child.kind), child, level))
            rows.extend(_layer_rows(child, f"{path}.", level + 1))
        else:  # a block's container of a nested list (residual.layers, parallel.branch_0)
            rows.extend(_layer_rows(child, f"{path}.", level))
    return rows


def _rows_of(model: nn.Module) -> list[tuple[str, str, nn.Module, int]]:
    """(name, type, module, level) per row: the layer-list entries of a built model (blocks with
    their nested layers), else the leaf modules."""
    if hasattr(model, "layers_spec"):
        return _layer_rows(model, "", 0)
    return [
        (name, type(m).__name__, m, 0) for name, m in model.named_modules() if name and not any(m.children())
    ]


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Run one batch of zeros of shape (2, *input_shape) through ``model`` and tabulate its layers.

    Works on any module (rows are then its leaf modules); the model's train/eval mode is restored.
    """
    model = getattr(model, "_orig_mod", model)  # a torch.compile wrapper: summarize what it wraps
    rows = _rows_of(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, _, module, _level in rows:

        def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
            if isinstance(out, torch.Tensor):
                shapes[name] = tuple(out.shape[1:])

        hooks.append(module.register_forward_hook(hook))
    first = next(iter(model.parameters()), None)
    device, dtype = (first.device, first.dtype) if first is not None else (torch.device("cpu"), torch.float32)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((2, *input_shape), device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad) + _bn_stat_count(model)
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    table = [
        LayerRow(name, kind, shapes.get(name, ()), _param_count(m), level) for name, kind, m, level in rows
    ]
    # depth counts the layers with weights, not the blocks that hold them
    leaves = [r for i, r in enumerate(table) if not (i + 1 < len(table) and table[i + 1].level > r.level)]
    return ModelSummary(
        layers=table,
        total_params=trainable + frozen,
        trainable_params=trainable,
        non_trainable_params=frozen,
        size_mb=size / 1e6,
        depth=sum(1 for r in leaves if r.params > 0),
    )
