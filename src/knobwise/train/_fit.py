"""The fit loop: device-resident batches, no host synchronization inside the step loop.

Each epoch draws its batch permutation and its dropout randomness from generators seeded with
(seed, epoch), so an epoch's randomness does not depend on what ran before it: a run resumed from
the checkpoint of epoch k replays epochs k+1, ... exactly as an uninterrupted run would.

Example:
    >>> from knobwise.config import load_config
    >>> from knobwise.data import prepare_data
    >>> from knobwise.models import build_model
    >>> cfg = load_config(None, ["train.epochs=1", "data.limit=200"])
    >>> data = prepare_data(cfg.data, seed=0)
    >>> model = build_model(cfg.model, data.input_shape, data.num_classes)
    >>> history = Trainer(model, data, cfg.train, seed=0, quiet=True).fit()
    >>> [k for k in history[0] if "/" not in k]
    ['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'time']
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from knobwise.config import TrainConfig
from knobwise.data import ClassSampler, PreparedData, epoch_batches
from knobwise.device import autocast
from knobwise.errors import ConfigError, TrainingError
from knobwise.train._callbacks import Callback, EarlyStopping
from knobwise.train._checkpoint import load_checkpoint, pack_optimizer, save_checkpoint, unpack_optimizer
from knobwise.train._device import autocast_dtype, configure_backends, use_channels_last
from knobwise.train._fine_tune import Unfreeze, param_groups
from knobwise.train._loss import create_loss
from knobwise.train._optim import create_optimizer
from knobwise.train._predict import loss_and_accuracy, predict_logits
from knobwise.train._progress import EpochProgress
from knobwise.train._schedule import create_schedule

__all__ = ["Trainer", "epoch_seed"]

#: A batch transform (augmentation) ``fn(x, y, generator) -> (x, y)``, run on the device.
BatchTransform = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for (run seed, epoch, stream) — independent streams per epoch."""
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729) % (2**63 - 1)


def _layer_groups(
    model: torch.nn.Module, device: torch.device
) -> tuple[list[str], list[torch.nn.Parameter], torch.Tensor]:
    """The parameters, the top-level layer names, and each parameter's layer position."""
    names: list[str] = []
    params: list[torch.nn.Parameter] = []
    owner: list[int] = []
    # Frozen parameters are included (a gradient norm of 0 until fine-tuning unfreezes them).
    for pname, p in model.named_parameters():
        layer = pname.split(".")[0]
        if layer not in names:
            names.append(layer)
        params.append(p)
        owner.append(names.index(layer))
    return names, params, torch.tensor(owner, dtype=torch.long, device=device)


class Trainer:
    """Fits ``model`` on ``data.splits['train']``, validating on ``data.splits['dev']`` each epoch.

    Args:
        model: the network (moved to the device here).
        data: prepared, device-resident data (see :func:`knobwise.data.prepare_data`).
        cfg: the ``train:`` config section.
        seed: the experiment seed.
        callbacks: extra hooks (the history writer, pruning, trackers, ...); early stopping,
            fine-tuning's unfreeze and the progress display are added from ``cfg`` and ``quiet``.
        checkpoint_dir: where a checkpoint is written after every epoch (None: no checkpoints).
        quiet: no progress display (no :class:`EpochProgress` callback).
        log: a function receiving human-readable lines (also written to ``log.txt`` by the caller).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        data: PreparedData,
        cfg: TrainConfig,
        *,
        seed: int = 0,
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: str | Path | None = None,
        quiet: bool = False,
        log: Callable[[str], None] | None = None,
        batch_transform: BatchTransform | None = None,
        sample_weight: torch.Tensor | None = None,
        index_sampler: ClassSampler | None = None,
    ) -> None:
        self.cfg = cfg
        self.data = data
        self.seed = seed
        self.device = data.splits["train"].x.device  # the data already lives on the training device
        configure_backends(cfg, self.device)
        self.amp_dtype = autocast_dtype(cfg, self.device)
        self.channels_last = use_channels_last(cfg, self.device)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]
        self.forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if cfg.compile else self.model  # type: ignore[assignment]
        )
        train = data.splits["train"]
        # Oversampling/undersampling: each epoch is a fresh index set of index_sampler.size positions.
        self.index_sampler = index_sampler
        self.epoch_size = index_sampler.size if index_sampler is not None else len(train)
        self.batch_size = cfg.batch_for(self.epoch_size)  # `full`: the whole (sampled) training set
        self.steps_per_epoch = math.ceil(self.epoch_size / min(self.batch_size, self.epoch_size))
        self.optimizer = create_optimizer(cfg.optimizer, param_groups(self.model, cfg))
        # L-BFGS evaluates the cost several times per step through a closure.
        self.closure_step = isinstance(self.optimizer, torch.optim.LBFGS)
        self.schedule = create_schedule(cfg.schedule, self.optimizer, cfg.epochs, self.steps_per_epoch)
        self.loss_fn = create_loss(cfg.loss, data.classes, data.class_counts.get("train")).to(self.device)
        # Plain cross-entropy: val_loss is already the cross-entropy, no second column.
        self._plain_ce = cfg.loss.name == "cross_entropy" and cfg.loss.label_smoothing == 0
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        if self.closure_step and (self.scaler is not None or cfg.clip_grad_norm):
            what = (
                "train.clip_grad_norm" if cfg.clip_grad_norm else "train.precision fp16 (a gradient scaler)"
            )
            raise ConfigError(
                f"{what} does not apply to train.optimizer.name lbfgs, whose line search needs the "
                "true cost and gradients; remove it (or use bf16/fp32)"
            )
        self.callbacks: list[Callback] = list(callbacks)
        if cfg.early_stopping is not None:
            self.callbacks.append(EarlyStopping(cfg.early_stopping))
        if cfg.fine_tune is not None and cfg.fine_tune.unfreeze_at_epoch is not None:
            self.callbacks.append(Unfreeze(cfg.fine_tune))
        if not quiet:
            self.callbacks.append(EpochProgress(cfg.epochs))
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._log = log
        self.batch_transform = batch_transform
        self.sample_weight = sample_weight
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # completed epochs
        self.stop_reason: str | None = None
        #: A note recorded in the next epoch's history row (babysitting: "knob change: lr=0.01").
        self.note: str | None = None
        # λ/2m Σw² over weights (not biases or batch-norm parameters), added to each mini-batch's
        # mean cost: m = training-set size (textbook), or the number of mini-batches per epoch
        # (network3.py, whose penalty is batch_size times stronger).
        self._l2_params = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        m = self.steps_per_epoch if cfg.l2_mode == "per_batch" else len(train)
        self._l2_coef = cfg.l2 / (2.0 * m) if cfg.l2 > 0 else 0.0
        # Per-layer gradient norms, summed over the epoch's steps on the device (read once per epoch).
        self._grad_layers, self._grad_params, self._grad_owner = _layer_groups(self.model, self.device)
        self._grad_sum = torch.zeros(len(self._grad_layers), device=self.device)
        # Norms are sampled on ~16 evenly spaced steps per epoch: the per-step cost of a handful of
        # small kernels would otherwise be a measurable share of a small model's step.
        self._grad_every = max(1, self.steps_per_epoch // 16)
        self._grad_samples = len(range(0, self.steps_per_epoch, self._grad_every))

    # -- logging and callbacks -------------------------------------------------------------------
    def log(self, line: str) -> None:
        """A human-readable line: given to the callbacks (the display shows it unless quiet) and
        passed to the run's log."""
        for cb in self.ordered_callbacks():
            cb.on_log(self, line)
        if self._log is not None:
            self._log(line)

    def ordered_callbacks(self) -> list[Callback]:
        """The callbacks in the order the hooks call them (by ``order``, then as given)."""
        return sorted(self.callbacks, key=lambda cb: cb.order)

    # -- the step loop ---------------------------------------------------------------------------
    def _batches(self, n: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        return epoch_batches(n, self.batch_size, generator, self.device)

    def train_epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over the training split; returns (mean loss, accuracy) as device tensors."""
        train = self.data.splits["train"]
        x, y, n = train.x, train.y, self.epoch_size
        gen = torch.Generator(device=self.device).manual_seed(epoch_seed(self.seed, epoch, 0))
        pool = self.index_sampler(gen) if self.index_sampler is not None else None
        aug_gen = torch.Generator(device=self.device).manual_seed(epoch_seed(self.seed, epoch, 1))
        torch.manual_seed(epoch_seed(self.seed, epoch, 2))  # dropout masks
        self.model.train()
        self._grad_sum.zero_()
        # Per-step results are kept as references and reduced once at the end of the epoch: a list
        # append costs no kernel, where a running sum costs several small ones on every step.
        losses: list[torch.Tensor] = []
        sizes: list[int] = []
        preds: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        report_every = max(1, self.steps_per_epoch // 50)
        # Only the callbacks that watch the steps are called from the step loop (a Python call, no
        # device read).
        watchers = [cb for cb in self.ordered_callbacks() if type(cb).on_steps is not Callback.on_steps]
        for step, idx in enumerate(self._batches(n, gen)):
            if pool is not None:
                idx = pool[idx]
            xb, yb = x[idx], y[idx]
            if self.batch_transform is not None:
                xb, yb = self.batch_transform(xb, yb, aug_gen)
            sw = self.sample_weight[idx] if self.sample_weight is not None else None
            if self.closure_step:
                loss, logits = self._closure_step(xb, yb, sw, step, epoch_seed(self.seed, epoch, 3))
            else:
                logits, loss = self._loss(xb, yb, sw)
                self._backward_and_step(loss, step)
            self.schedule.step_batch()
            losses.append(loss.detach())
            sizes.append(idx.shape[0])
            preds.append(logits.detach().argmax(1))
            targets.append(yb)
            if watchers and step % report_every == 0:
                for cb in watchers:
                    cb.on_steps(self, epoch, report_every if step else 1)
        weights = torch.tensor(sizes, device=self.device, dtype=torch.float32)
        mean_loss = (torch.stack(losses).float() * weights).sum() / n
        target = torch.cat([t if t.ndim == 1 else t.argmax(1) for t in targets])  # soft: MixUp/CutMix
        accuracy = (torch.cat(preds) == target).float().mean()
        return mean_loss, accuracy

    def _loss(
        self, xb: torch.Tensor, yb: torch.Tensor, sw: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the cost (loss + the L2 term) of one batch."""
        with autocast(self.device, self.amp_dtype):
            logits = self.forward(xb)
            loss = self.loss_fn(logits, yb, sw)
        if self._l2_coef:
            loss = loss + self._l2_coef * sum(p.pow(2).sum() for p in self._l2_params)
        return logits, loss

    def _backward_and_step(self, loss: torch.Tensor, step: int) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.cfg.clip_grad_norm or self.cfg.grad_stats:
                self.scaler.unscale_(self.optimizer)  # norms and clipping need the true gradients
            self._after_backward(step)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self._after_backward(step)
            self.optimizer.step()

    def _closure_step(
        self, xb: torch.Tensor, yb: torch.Tensor, sw: torch.Tensor | None, step: int, dropout_seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of a closure optimizer (L-BFGS): it re-evaluates the cost on the same batch as
        often as its line search needs. Every evaluation draws the same dropout masks, so the
        function it minimizes does not change between evaluations. Returns the cost and logits of
        the first evaluation (before the step), as a gradient-descent step reports them."""
        first: list[torch.Tensor] = []

        def closure() -> torch.Tensor:
            torch.manual_seed(dropout_seed + step)
            self.optimizer.zero_grad(set_to_none=True)
            logits, loss = self._loss(xb, yb, sw)
            loss.backward()
            if not first:
                first.extend((loss.detach(), logits.detach()))
            return loss

        lr = float(self.optimizer.param_groups[0]["lr"])
        why = (
            f"lbfgs: the line search collapsed to a zero-length step (learning rate now {lr:g}); keep "
            "train.optimizer.lr > 0 (a schedule such as cosine ends at 0), or use line_search: none"
        )
        if lr <= 0:  # torch's strong-Wolfe interpolation divides by the step length
            raise TrainingError(why)
        try:
            self.optimizer.step(closure)  # type: ignore[arg-type]
        except ZeroDivisionError as exc:  # a bracket that shrank to nothing
            raise TrainingError(why) from exc
        self._after_backward(step)  # the gradients of the last evaluation
        return first[0], first[1]

    def _after_backward(self, step: int) -> None:
        """On sampled steps add each layer's gradient norm to the epoch sums (no host sync); clip."""
        if self.cfg.grad_stats and self._grad_params and step % self._grad_every == 0:
            zero = self._grad_sum.new_zeros(())
            grads = [p.grad if p.grad is not None else zero for p in self._grad_params]
            norms = torch.stack(torch._foreach_norm(grads)).float()
            if self.scaler is not None:  # fp16: a step the scaler skips has inf gradients by design
                norms = torch.nan_to_num(norms, nan=0.0, posinf=0.0)
            per_layer = torch.zeros_like(self._grad_sum).index_add_(0, self._grad_owner, norms.square())
            self._grad_sum += per_layer.sqrt()
        if self.cfg.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(self._grad_params, self.cfg.clip_grad_norm, foreach=True)

    def validate(self) -> list[torch.Tensor] | None:
        """[loss, accuracy] on the dev split, + the cross-entropy when the training loss is another
        (None when there is no dev split).

        As in Keras, ``val_loss`` is the training loss (hinge, BCE, label smoothing included),
        without class or sample weights, so ``loss`` and ``val_loss`` compare like with like.
        """
        dev = self.data.splits.get("dev")
        if dev is None or len(dev) == 0:
            return None
        logits = predict_logits(self.forward, dev.x, amp_dtype=self.amp_dtype)  # type: ignore[arg-type]
        ce, acc = loss_and_accuracy(logits, dev.y)
        if self._plain_ce:
            return [ce, acc]
        return [self.loss_fn.per_example(logits, dev.y, "mean"), acc, ce]

    # -- the epoch loop --------------------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        """Train from :attr:`epoch` to ``cfg.epochs``; returns the history (one dict per epoch)."""
        self.begin_fit()
        while self.epoch < self.cfg.epochs and self.stop_reason is None:
            epoch = self.epoch
            start = time.perf_counter()
            lr = self.current_lr()
            self.begin_epoch(epoch)
            loss_t, acc_t = self.train_epoch(epoch)
            self.end_epoch(epoch, loss_t, acc_t, self.validate(), lr, start)
        self.end_fit()
        return self.history

    def current_lr(self) -> float:
        """The learning rate of the first parameter group (what the history's ``lr`` column shows)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def begin_fit(self) -> None:
        """The callbacks' ``on_train_begin`` (a population calls it for each member)."""
        for cb in self.ordered_callbacks():
            cb.on_train_begin(self)

    def begin_epoch(self, epoch: int) -> None:
        """The callbacks' ``on_epoch_begin`` (a population calls it for each member in training)."""
        for cb in self.ordered_callbacks():
            cb.on_epoch_begin(self, epoch)

    def end_epoch(
        self,
        epoch: int,
        loss_t: torch.Tensor,
        acc_t: torch.Tensor,
        val: Sequence[torch.Tensor] | None,
        lr: float,
        start: float,
    ) -> dict[str, Any]:
        """Everything after an epoch's steps: logs, the non-finite check, the schedule, callbacks,
        history and checkpoint. A population trains its members' steps together and calls this
        for each member, so both paths share one epoch bookkeeping."""
        # The one host synchronization of the epoch: read all the numbers together.
        head = torch.stack([loss_t, acc_t, *(val if val is not None else [])])
        grad_means = self._grad_sum / self._grad_samples if self.cfg.grad_stats else self._grad_sum[:0]
        stacked = torch.cat([head, grad_means]).tolist()
        logs: dict[str, Any] = {"epoch": epoch + 1, "loss": stacked[0], "accuracy": stacked[1]}
        if val is not None:
            logs["val_loss"], logs["val_accuracy"] = stacked[2], stacked[3]
            if len(val) == 3:
                logs["val_cross_entropy"] = stacked[4]
        logs["lr"] = lr
        logs["time"] = time.perf_counter() - start
        if self.cfg.grad_stats:  # with grad_stats off there are layer names but no values
            names = [f"grad_norm/{n}" for n in self._grad_layers]
            logs.update(zip(names, stacked[len(head) :], strict=True))
        if self.note:
            logs["knob_change"], self.note = self.note, None
        if not math.isfinite(logs["loss"]):
            for cb in self.ordered_callbacks():
                cb.on_epoch_failed(self, epoch, logs)
            kept = f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written"
            raise TrainingError(
                f"non-finite training loss ({logs['loss']}) in epoch {epoch + 1}; training stopped, "
                f"{kept}. Lower train.optimizer.lr, or set train.clip_grad_norm"
            )
        self.schedule.step_epoch(logs)
        for cb in self.ordered_callbacks():  # the history writer, early stopping, ..., the display
            cb.on_epoch_end(self, epoch, logs)
        self.history.append(logs)
        self.epoch = epoch + 1
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        return logs

    def end_fit(self) -> None:
        """Log the stop reason and run the callbacks' ``on_train_end`` (restore_best, ...)."""
        if self.stop_reason:
            self.log(self.stop_reason)
        for cb in self.ordered_callbacks():
            cb.on_train_end(self)

    # -- checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Everything needed to continue: model, optimizer, schedule, callbacks, history."""
        assert self.checkpoint_dir is not None
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        opt_tensors, opt_meta = pack_optimizer(self.optimizer)
        tensors.update(opt_tensors)
        for i, cb in enumerate(self.callbacks):
            best = getattr(cb, "best_state", None)
            if best is not None:
                tensors.update({f"cb{i}.{k}": v for k, v in best.items()})
        state = {
            "epoch": self.epoch,
            "history": self.history,
            "optimizer": opt_meta,
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "stop_reason": self.stop_reason,
        }
        save_checkpoint(self.checkpoint_dir, self.epoch, tensors, state)

    def load_checkpoint(self, root: str | Path) -> None:
        """Restore the newest checkpoint under ``root`` (see :meth:`save_checkpoint`)."""
        tensors, state = load_checkpoint(root)
        model_sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(model_sd)
        unpack_optimizer(self.optimizer, tensors, state["optimizer"])
        self.schedule.load_state_dict(state.get("schedule") or {})
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for i, (cb, cb_state) in enumerate(zip(self.callbacks, state.get("callbacks", []), strict=False)):
            cb.load_state_dict(cb_state)
            prefix = f"cb{i}."
            best = {k[len(prefix) :]: v.to(self.device) for k, v in tensors.items() if k.startswith(prefix)}
            if best and hasattr(cb, "best_state"):
                cb.best_state = best
        self.history = list(state.get("history", []))
        self.epoch = int(state["epoch"])
        self.stop_reason = state.get("stop_reason")
