"""Optimizers by name, all from ``torch.optim``.

Example:
    >>> import torch
    >>> from knobwise.config import OptimizerConfig
    >>> params = [torch.nn.Parameter(torch.zeros(2))]
    >>> opt = create_optimizer(OptimizerConfig(name="sgd", lr=0.1, momentum=0.9), params)
    >>> type(opt).__name__
    'SGD'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from knobwise.config import OptimizerConfig
from knobwise.errors import ConfigError
from knobwise.registry import Registry

__all__ = ["LBFGS_ONLY", "OPTIMIZERS", "create_optimizer", "list_optimizers", "register_optimizer"]

OptimizerFactory = Callable[[OptimizerConfig, Iterable[Any]], torch.optim.Optimizer]

#: ``train.optimizer.name`` → factory(cfg, params).
OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer", key="train.optimizer.name")


def register_optimizer(name: str, *aliases: str) -> Callable[[OptimizerFactory], OptimizerFactory]:
    """Decorator registering an optimizer factory under ``name``."""
    return OPTIMIZERS.register(name, *aliases)


def list_optimizers(pattern: str = "*") -> list[str]:
    """Names of the registered optimizers."""
    return OPTIMIZERS.names(pattern)


def _opt(cfg: OptimizerConfig, **fields: Any) -> dict[str, Any]:
    """Keyword arguments for the fields that are set (None means: torch's default)."""
    return {k: v for k, v in fields.items() if v is not None}


@register_optimizer("sgd")
def _sgd(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    # Two textbook forms of momentum: torch's v = βv + g (≡ v = βv − ηg for a constant η) and the
    # moving average v = βv + (1−β)g, which is torch's SGD with dampening = β.
    dampening = cfg.momentum if cfg.momentum_form == "ema" else 0.0
    if cfg.nesterov and (cfg.momentum <= 0 or dampening != 0):
        raise ConfigError(
            "train.optimizer.nesterov needs momentum > 0 and momentum_form: pytorch, "
            f"got momentum={cfg.momentum}, momentum_form={cfg.momentum_form}"
        )
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        dampening=dampening,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )


@register_optimizer("rmsprop")
def _rmsprop(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    kw = _opt(cfg, alpha=cfg.alpha, eps=cfg.eps, centered=cfg.centered)
    return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kw)


@register_optimizer("adam")
def _adam(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    # Adam's bias-corrected moments with β1 = 0.9, β2 = 0.999, ε = 1e-8 unless set.
    kw = _opt(cfg, betas=cfg.betas, eps=cfg.eps, amsgrad=cfg.amsgrad)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)


@register_optimizer("adamw")
def _adamw(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    kw = _opt(cfg, betas=cfg.betas, eps=cfg.eps, amsgrad=cfg.amsgrad)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)


@register_optimizer("adadelta")
def _adadelta(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    kw = _opt(cfg, rho=cfg.rho, eps=cfg.eps)
    return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)


@register_optimizer("adagrad")
def _adagrad(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    kw = _opt(cfg, eps=cfg.eps)
    return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)


#: The options only L-BFGS reads, and the gradient-descent options L-BFGS has no use for.
LBFGS_ONLY = ("history_size", "max_iter", "line_search", "tolerance_grad", "tolerance_change")
_NOT_LBFGS: tuple[str, ...] = ("momentum", "momentum_form", "nesterov", "weight_decay", "betas", "eps")
_NOT_LBFGS += ("rho", "alpha", "centered", "amsgrad")


@register_optimizer("lbfgs")
def _lbfgs(cfg: OptimizerConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
    # A quasi-Newton method: each step() re-evaluates the loss through a closure up to max_iter
    # times (the fit loop passes one); lr scales the step, 1.0 being the natural quasi-Newton step.
    set_fields = cfg.model_fields_set
    for name in _NOT_LBFGS:
        if name in set_fields and getattr(cfg, name) != OptimizerConfig.model_fields[name].default:
            raise ConfigError(
                f"train.optimizer.{name} does not apply to lbfgs (its options: lr, "
                f"{', '.join(LBFGS_ONLY)}); for an L2 penalty use train.l2"
            )
    search = None if cfg.line_search in (None, "none") else cfg.line_search
    kw = _opt(
        cfg,
        history_size=cfg.history_size,
        max_iter=cfg.max_iter,
        tolerance_grad=cfg.tolerance_grad,
        tolerance_change=cfg.tolerance_change,
    )
    return torch.optim.LBFGS(params, lr=cfg.lr, line_search_fn=search, **kw)


def create_optimizer(
    cfg: OptimizerConfig, params: Iterable[Any], *, fused: bool = False
) -> torch.optim.Optimizer:
    """Build the optimizer named by ``cfg.name`` over ``params``.

    ``fused`` asks for torch's fused kernel where the optimizer has one (Adam, AdamW, SGD,
    Adagrad): one pass over each tensor instead of one per operation, 2.4x faster for a
    population's stacked Adam on a CPU, but rounded differently from the multi-tensor update in
    the last bit, so a standalone run keeps the latter (the same numbers as torch's default).

    >>> create_optimizer(OptimizerConfig(name="sgd", history_size=5), [torch.zeros(1)])
    Traceback (most recent call last):
    ...
    knobwise.errors.ConfigError: train.optimizer.history_size applies only to lbfgs, not sgd
    """
    if cfg.name != "lbfgs":
        for name in LBFGS_ONLY:
            if getattr(cfg, name) is not None:
                raise ConfigError(f"train.optimizer.{name} applies only to lbfgs, not {cfg.name}")
    optimizer = OPTIMIZERS.get(cfg.name)(cfg, params)
    if cfg.name == "lbfgs":
        return optimizer
    # Set on the groups rather than passed to the constructors, so that registered factories
    # need not know it; torch reads both options from the group at every step.
    fused = fused and "fused" in optimizer.defaults
    for group in optimizer.param_groups:
        if fused:
            group["fused"], group["foreach"] = True, False
        else:
            # torch's multi-tensor update: on a CPU the same arithmetic, bit for bit, as the
            # per-tensor loop torch picks there by default, in fewer operations; CUDA picks it
            # anyway.
            group["foreach"] = True
    return optimizer
