"""The learning-rate range test: raise the rate exponentially over a few hundred steps, watch the loss.

Training starts at ``min_lr`` and multiplies the rate by a constant factor each step up to
``max_lr``, with the run's optimizer on the run's data. The loss is smoothed (an exponential moving
average with bias correction) and the test stops early once the smoothed loss exceeds
``diverge`` times its minimum. The suggested rate is where the smoothed loss falls fastest per
unit of log-rate, searched only before the minimum (after it the loss is about to diverge); the
slope is taken over a window of steps, so single noisy batches do not decide it. The model's
weights are restored afterwards, so the test leaves the model as it found it.

Example:
    >>> lrs = np.logspace(-4, 0, 50)
    >>> loss = 2.0 - np.tanh(np.log10(lrs) + 2.0)  # falls fastest at lr = 1e-2
    >>> float(np.log10(suggest_lr(lrs, loss)).round(1))
    -2.0
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import TrainConfig
from knobwise.data import PreparedData, epoch_batches
from knobwise.errors import ConfigError
from knobwise.train import create_loss, create_optimizer

__all__ = ["LRFindResult", "lr_find", "suggest_lr", "smooth", "plot_lr_find"]


@dataclass
class LRFindResult:
    """Rates tried, raw and smoothed losses, the suggestion and why the test stopped."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    min_loss_lr: float
    stopped: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the per-step arrays)."""
        return {
            "suggestion": self.suggestion,
            "min_loss_lr": self.min_loss_lr,
            "steps": len(self.lrs),
            "lr_range": [float(self.lrs[0]), float(self.lrs[-1])],
            "stopped": self.stopped,
        }


def smooth(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Exponential moving average with bias correction (the first values are not pulled to 0).

    >>> np.round(smooth(np.array([1.0, 1.0, 1.0])), 12).tolist()
    [1.0, 1.0, 1.0]
    """
    out = np.empty(len(losses))
    avg = 0.0
    for i, v in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(v)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def suggest_lr(lrs: np.ndarray, smoothed: np.ndarray, window: int | None = None) -> float:
    """The rate of steepest descent of ``smoothed`` against log10(lr), before its minimum."""
    n = len(lrs)
    if n < 3:
        return float(lrs[0])
    stop = int(np.argmin(smoothed)) + 1
    w = window or max(2, n // 20)
    logs = np.log10(lrs)
    best, best_slope = 0, math.inf
    for i in range(0, max(1, stop - w)):
        j = min(i + w, n - 1)
        slope = (smoothed[j] - smoothed[i]) / max(logs[j] - logs[i], 1e-12)
        if slope < best_slope:
            best, best_slope = (i + j) // 2, slope
    return float(lrs[best])


def lr_find(
    model: torch.nn.Module,
    data: PreparedData,
    cfg: TrainConfig,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 200,
    diverge: float = 4.0,
    seed: int = 0,
) -> LRFindResult:
    """Run the range test on ``model`` (weights restored afterwards); see the module docstring."""
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"--min-lr must be > 0 and below --max-lr, got {min_lr:g} and {max_lr:g}")
    if steps < 10:
        raise ConfigError(f"--steps must be >= 10, got {steps}")
    if cfg.optimizer.name == "lbfgs":
        raise ConfigError(
            "train.optimizer.name: lbfgs chooses its own step (line search); the learning-rate range "
            "test applies to gradient-descent optimizers (sgd, adam, rmsprop, ...)"
        )
    train = data.splits["train"]
    device = train.x.device
    model.to(device)
    saved = copy.deepcopy(model.state_dict())
    was_training = model.training
    opt = create_optimizer(cfg.optimizer.model_copy(update={"lr": min_lr}), model.parameters())
    loss_fn = create_loss(cfg.loss, data.classes, data.class_counts.get("train")).to(device)
    factor = (max_lr / min_lr) ** (1.0 / (steps - 1))
    gen = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    lrs: list[float] = []
    losses: list[float] = []
    stopped = f"reached max_lr {max_lr:g}"
    model.train()
    try:
        batches: Iterator[torch.Tensor] = iter(())
        best = math.inf
        for step in range(steps):
            idx: torch.Tensor | None = next(batches, None)
            if idx is None:
                batches = epoch_batches(len(train), cfg.batch_for(len(train)), gen, device)
                idx = next(batches)
            lr = min_lr * factor**step
            for group in opt.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(train.x[idx]), train.y[idx], None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())  # the range test needs each step's loss to decide when to stop
            lrs.append(lr)
            losses.append(value)
            sm = smooth(np.array(losses))[-1]
            if not math.isfinite(value) or sm > diverge * best:
                stopped = f"diverged at lr {lr:.3g}"
                break
            best = min(best, sm)
    finally:
        model.load_state_dict(saved)
        model.train(was_training)
    lr_arr = np.array(lrs)
    loss_arr = np.array(losses)
    finite = np.isfinite(loss_arr)
    lr_arr, loss_arr = lr_arr[finite], loss_arr[finite]
    sm_arr = smooth(loss_arr)
    return LRFindResult(
        lr_arr, loss_arr, sm_arr, suggest_lr(lr_arr, sm_arr), float(lr_arr[int(np.argmin(sm_arr))]), stopped
    )


def plot_lr_find(result: LRFindResult, path: str | Path) -> None:
    """Save the loss-versus-rate plot (log x axis) with the suggestion marked, as PNG."""
    # lazy: matplotlib loads only when a plot is drawn, so `import knobwise.diagnose` stays light
    import matplotlib

    matplotlib.use("Agg")
    # lazy: pyplot after the Agg backend is chosen (no display needed)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses, color="0.8", lw=0.8, label="loss per step")
    ax.plot(result.lrs, result.smoothed, color="C0", lw=1.8, label="smoothed")
    ax.axvline(result.suggestion, color="C3", ls="--", label=f"suggested {result.suggestion:.2g}")
    ax.set_xscale("log")
    top = np.nanmax(result.smoothed[: max(1, int(np.argmin(result.smoothed)) + 1)]) * 1.5
    ax.set_ylim(max(0.0, float(np.nanmin(result.smoothed)) * 0.8), float(top))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
