"""Transfer learning for a built model from its config: load ``model.pretrained``, then apply
``model.freeze``; the lines to log and the metadata to keep with the run.

Example:
    >>> from knobwise.config import ModelConfig
    >>> from knobwise.models._zoo import build_model
    >>> model = build_model(ModelConfig(name="mlp"), (1, 8, 8), 10)
    >>> apply_transfer(model, ModelConfig(name="mlp", freeze="backbone")).metadata["frozen"]
    ['flatten_1', 'dense_1']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from knobwise.config import ModelConfig
from knobwise.models._freeze import freeze, head_prefix
from knobwise.models._pretrained import load_pretrained, source_classes

__all__ = ["Transfer", "apply_transfer"]


@dataclass
class Transfer:
    """What transfer learning did: ``lines`` for the log, ``metadata`` for ``model.json``."""

    lines: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def apply_transfer(
    model: nn.Module, cfg: ModelConfig, *, load: bool = True, classes: list[str] | None = None
) -> Transfer:
    """Load ``cfg.pretrained`` into ``model`` (unless ``load`` is false: a resumed run's checkpoint
    holds the weights) and freeze ``cfg.freeze``.

    When the source is a run whose class names differ from ``classes`` (the target data's), its
    head is not loaded even if its shape fits: a classifier of other classes is no head start.
    """
    out = Transfer()
    if cfg.pretrained is not None and load:
        theirs = source_classes(cfg.pretrained)
        skip = {}
        if classes is not None and theirs is not None and list(classes) != theirs:
            skip[head_prefix(model)] = "head of the source's other classes"
        report = load_pretrained(model, cfg.pretrained, skip=skip)
        out.lines.append(report.line())
        out.metadata["pretrained"] = report.to_dict()
    frozen = freeze(model, cfg.freeze)
    if frozen:
        n = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        shown = ", ".join(frozen[:6]) + (f", ... ({len(frozen) - 6} more)" if len(frozen) > 6 else "")
        out.lines.append(f"frozen: {n:,} parameters in {shown} (batch-norm statistics too)")
        if cfg.pretrained is None:
            out.lines.append("note: model.freeze without model.pretrained keeps random weights fixed")
        out.metadata["frozen"] = frozen
    return out
