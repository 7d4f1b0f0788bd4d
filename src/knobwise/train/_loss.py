"""Losses by name. Each returns per-example losses; the caller takes the (weighted) mean.

The cost of a batch is J = Σ wᵢ·Lᵢ / Σ wᵢ, where wᵢ is the class weight of example i's label
times its sample weight (both 1 when unset) — the same weighted mean ``torch`` uses for
``CrossEntropyLoss(weight=...)``.

Example:
    >>> import torch
    >>> from knobwise.config import LossConfig
    >>> loss = create_loss(LossConfig(name="cross_entropy"), classes=["a", "b"])
    >>> round(float(loss(torch.zeros(1, 2), torch.tensor([0]))), 4)
    0.6931
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from knobwise.config import LossConfig
from knobwise.errors import ConfigError
from knobwise.registry import Registry

__all__ = ["Loss", "LOSSES", "create_loss", "list_losses", "register_loss", "class_weights"]

#: fn(logits, y, reduction) with reduction "none" (per-example losses) or "mean".
PerExample = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]
#: ``train.loss.name`` → factory(cfg, num_classes) returning per-example loss fn(logits, y).
LOSSES: Registry[Callable[[LossConfig, int], PerExample]] = Registry("loss", key="train.loss.name")


def register_loss(
    name: str, *aliases: str
) -> Callable[[Callable[[LossConfig, int], PerExample]], Callable[[LossConfig, int], PerExample]]:
    """Decorator registering a per-example loss factory under ``name`` (and ``aliases``)."""
    return LOSSES.register(name, *aliases)


def list_losses(pattern: str = "*") -> list[str]:
    """Names of the registered losses."""
    return LOSSES.names(pattern)


@register_loss("cross_entropy")
def _cross_entropy(cfg: LossConfig, k: int) -> PerExample:
    s = cfg.label_smoothing
    return lambda logits, y, red: F.cross_entropy(logits.float(), y, reduction=red, label_smoothing=s)


def _hard_labels(y: torch.Tensor, name: str) -> None:
    if y.ndim == 2:
        raise ConfigError(f"train.loss.name {name} needs hard labels; mixup/cutmix give soft targets")


@register_loss("multiclass_hinge", "weston_watkins_hinge")
def _hinge(cfg: LossConfig, k: int) -> PerExample:
    # Weston-Watkins: the SUM over wrong classes j of max(0, margin - s_y + s_j), divided by K as
    # torch.nn.MultiMarginLoss does (the K only rescales the loss).
    m = cfg.margin

    def fn(logits: torch.Tensor, y: torch.Tensor, red: str) -> torch.Tensor:
        _hard_labels(y, "multiclass_hinge")
        return F.multi_margin_loss(logits.float(), y, margin=m, reduction=red)

    return fn


@register_loss("crammer_singer_hinge")
def _crammer_singer(cfg: LossConfig, k: int) -> PerExample:
    # Crammer-Singer: max(0, margin - s_y + MAX over wrong classes j of s_j), scikit-learn's
    # multiclass hinge_loss (margin 1).
    m = cfg.margin

    def fn(logits: torch.Tensor, y: torch.Tensor, red: str) -> torch.Tensor:
        _hard_labels(y, "crammer_singer_hinge")
        s = logits.float()
        true = s.gather(1, y.unsqueeze(1)).squeeze(1)
        other = s.scatter(1, y.unsqueeze(1), float("-inf")).amax(1)
        per = (m - true + other).clamp_min(0.0)
        return per.mean() if red == "mean" else per

    return fn


@register_loss("binary_cross_entropy")
def _bce(cfg: LossConfig, k: int) -> PerExample:
    # One sigmoid per class (one-vs-rest), averaged over classes; label smoothing pulls targets
    # toward 1/2.
    s = cfg.label_smoothing

    def fn(logits: torch.Tensor, y: torch.Tensor, red: str) -> torch.Tensor:
        hard = y.float() if y.ndim == 2 else F.one_hot(y, logits.shape[1]).float()  # soft (N, K) as given
        target = hard * (1 - s) + s / 2
        per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").mean(1)
        return per.mean() if red == "mean" else per

    return fn


def class_weights(
    cfg: LossConfig, classes: list[str], counts: list[int] | None = None
) -> torch.Tensor | None:
    """The per-class weight vector of ``cfg.class_weight`` (None when unset)."""
    cw = cfg.class_weight
    if cw is None:
        return None
    k = len(classes)
    if cw == "balanced":
        if counts is None:
            raise ConfigError("train.loss.class_weight: balanced needs the training class counts")
        total = float(sum(counts))
        return torch.tensor([total / (k * c) if c else 0.0 for c in counts], dtype=torch.float32)
    if isinstance(cw, dict):
        unknown = [n for n in cw if n not in classes]
        if unknown:
            raise ConfigError(
                f"train.loss.class_weight: unknown class {unknown[0]!r} (classes: {', '.join(classes)})"
            )
        return torch.tensor([float(cw.get(c, 1.0)) for c in classes], dtype=torch.float32)
    if len(cw) != k:
        raise ConfigError(f"train.loss.class_weight must have {k} entries (one per class), got {len(cw)}")
    if any(w < 0 for w in cw):
        raise ConfigError(f"train.loss.class_weight entries must be >= 0, got {cw}")
    return torch.tensor(cw, dtype=torch.float32)


class Loss:
    """A loss with class and sample weights: ``loss(logits, y, sample_weight=None)`` → scalar.

    ``y`` is ``(N,)`` class indices or ``(N, K)`` soft targets (rows summing to 1, from MixUp or
    CutMix); cross-entropy then is ``−Σ_k y_k log softmax(logits)_k``."""

    def __init__(self, per_example: PerExample, weight: torch.Tensor | None = None) -> None:
        self.per_example = per_example
        self.weight = weight

    def to(self, device: torch.device | str) -> Loss:
        if self.weight is not None:
            self.weight = self.weight.to(device)
        return self

    def __call__(
        self, logits: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.weight is None and sample_weight is None:
            return self.per_example(logits, y, "mean")  # one fused kernel on the hot path
        per = self.per_example(logits, y, "none")
        if self.weight is None:
            w = torch.ones_like(per)
        else:  # soft (N, K) targets (mixup/cutmix) weigh each class by its share
            w = y.float() @ self.weight if y.ndim == 2 else self.weight[y]
        if sample_weight is not None:
            w = w * sample_weight
        return (per * w).sum() / w.sum().clamp_min(torch.finfo(per.dtype).tiny)


def create_loss(cfg: LossConfig, classes: list[str], counts: list[int] | None = None) -> Loss:
    """Build the loss named by ``cfg.name`` for ``classes``."""
    factory = LOSSES.get(cfg.name)
    return Loss(factory(cfg, len(classes)), class_weights(cfg, classes, counts))
