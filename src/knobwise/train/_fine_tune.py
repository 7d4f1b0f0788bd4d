"""Transfer learning, the training side: a discriminative learning rate through optimizer parameter
groups, and unfreezing the backbone at a chosen epoch (``train.fine_tune``).

The head (the last layer with weights) learns at ``train.optimizer.lr``, the backbone at
``backbone_lr_mult`` times it. Frozen parameters sit in the optimizer too but get no gradient, and
every ``torch.optim`` optimizer leaves a parameter without a gradient untouched (weight decay
included), so they stay bit-identical until they are unfrozen.

Example:
    >>> from knobwise.config import TrainConfig
    >>> from knobwise.models._layers import build_from_layers
    >>> model = build_from_layers(["flatten", {"dense": {"units": 4}}, {"dense": {"units": 2}}], (1, 2, 2))
    >>> cfg = TrainConfig(optimizer={"name": "sgd", "lr": 0.1}, fine_tune={"backbone_lr_mult": 0.1})
    >>> [(len(g["params"]), round(g["lr"], 3)) for g in param_groups(model, cfg)]
    [(2, 0.1), (2, 0.01)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from knobwise.config import FineTuneConfig, TrainConfig
from knobwise.models._freeze import in_backbone, unfreeze
from knobwise.train._callbacks import Callback

if TYPE_CHECKING:
    from knobwise.train._fit import Trainer

__all__ = ["Unfreeze", "param_groups"]


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[Any]:
    """The optimizer's parameters: all of them in one group, or with ``train.fine_tune`` the head
    at the learning rate, then the backbone at ``backbone_lr_mult`` times it."""
    if cfg.fine_tune is None:
        return list(model.parameters())
    backbone = in_backbone(model)
    named = list(model.named_parameters())
    head = [p for n, p in named if n not in backbone]
    body = [p for n, p in named if n in backbone]
    groups: list[dict[str, Any]] = [{"params": head, "lr": cfg.optimizer.lr}]
    if body:
        groups.append({"params": body, "lr": cfg.optimizer.lr * cfg.fine_tune.backbone_lr_mult})
    return groups


class Unfreeze(Callback):
    """Makes the whole model trainable once ``unfreeze_at_epoch`` epochs are done (logged)."""

    def __init__(self, cfg: FineTuneConfig) -> None:
        self.at = cfg.unfreeze_at_epoch

    def _unfreeze(self, trainer: Trainer, epoch: int) -> None:
        frozen = sum(p.numel() for p in trainer.model.parameters() if not p.requires_grad)
        if frozen:
            unfreeze(trainer.model)
            trainer.log(f"fine-tune: {frozen:,} frozen parameters train from epoch {epoch + 1} on")

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.at is not None and trainer.epoch >= self.at:  # 0, or a resumed run past it
            self._unfreeze(trainer, trainer.epoch)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.at is not None and epoch + 1 == self.at:
            self._unfreeze(trainer, epoch + 1)
