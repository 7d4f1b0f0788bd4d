"""Population training: N members of one architecture trained together as one batched computation.

Each member is an ordinary :class:`~knobwise.train.Trainer` (its own model, ``torch.optim``
optimizer, schedule, loss, callbacks, early stopping, checkpoints and seed); the population only
replaces the step loop. The members' parameters are stacked along a new leading dimension
(``torch.func.stack_module_state``) and every member's parameter becomes a view of its slice, so
one ``torch.func.vmap`` of ``functional_call`` runs the forward and backward pass of all members at
once while each member's own optimizer updates its slice in place (per-member learning rates,
momenta, weight decays and schedules come for free: they are the members' own param groups).

Each member draws its data order, augmentation and dropout masks from its own generators, seeded
exactly as a standalone :class:`Trainer` seeds them, so member k follows the same trajectory as a
standalone run with the same seed up to floating-point summation order (the batched kernels add in
a different order). Dropout is drawn outside ``vmap`` with the member's generator, as the CPU
kernel of ``torch.nn.functional.dropout`` draws it. A member that stops early stops updating.

What cannot be batched (different architectures or batch sizes, fp16 loss scaling, random modules
other than dropout) is trained member after member with :meth:`Trainer.fit`, and the reason is
logged: the results are those of standalone runs either way.

Example:
    >>> from knobwise.config import load_config
    >>> from knobwise.data import prepare_data
    >>> from knobwise.models import build_model
    >>> cfg = load_config(None, ["train.epochs=1", "data.limit=200"])
    >>> data = prepare_data(cfg.data, seed=0)
    >>> members = []
    >>> for seed in (0, 1):
    ...     _ = torch.manual_seed(seed)
    ...     model = build_model(cfg.model, data.input_shape, data.num_classes)
    ...     members.append(Trainer(model, data, cfg.train, seed=seed, quiet=True))
    >>> population = PopulationTrainer(members)
    >>> population.batched, [len(h) for h in population.fit()]
    (True, [1, 1])
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from knobwise.device import autocast
from knobwise.errors import TrainingError
from knobwise.train._fit import Trainer, epoch_seed
from knobwise.train._grouped import grouped_blocker, grouped_forward, grouped_plan, leaf_modules
from knobwise.train._optim import create_optimizer
from knobwise.train._predict import loss_and_accuracy

__all__ = ["PopulationTrainer", "batch_blocker"]


class _MaskDropout(torch.nn.Module):
    """Dropout whose mask is an input (a buffer ``mask`` given to ``functional_call``): inside
    ``vmap`` each member multiplies by the mask drawn for it outside, with its own generator."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.register_buffer("mask", None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask
        if not self.training or not isinstance(mask, torch.Tensor):
            return x
        return x * mask.to(x.dtype)


def batch_blocker(trainers: Sequence[Trainer]) -> str | None:
    """Why ``trainers`` cannot be trained as one batched population (None: they can).

    >>> batch_blocker([])
    'a population needs at least one member'
    """
    if not trainers:
        return "a population needs at least one member"
    if len(trainers) == 1:  # nothing to batch: the standalone loop is faster and the same bit for bit
        return "one member trains as a standalone run"
    first = trainers[0]
    spec = getattr(first.model, "layers_spec", None)
    for i, t in enumerate(trainers[1:], start=1):
        if getattr(t.model, "layers_spec", None) != spec or spec is None:
            return f"member {i} has a different architecture than member 0"
        if t.data is not first.data:
            return f"member {i} trains on different data than member 0"
        if t.cfg.batch_size != first.cfg.batch_size or t.epoch_size != first.epoch_size:
            return f"member {i} has a different batch size or epoch size than member 0"
        if t.device != first.device or t.amp_dtype != first.amp_dtype:
            return f"member {i} runs on a different device or precision than member 0"
        if t.epoch != first.epoch:
            return f"member {i} starts at epoch {t.epoch}, member 0 at epoch {first.epoch}"
    if first.scaler is not None:
        return "fp16 loss scaling (train.precision=fp16) is per model"
    for i, t in enumerate(trainers):
        if t.cfg.optimizer.name == "lbfgs":
            return f"member {i} uses L-BFGS, whose line search is per model"
        if t.cfg.fine_tune is not None or len(t.optimizer.param_groups) != 1:
            return f"member {i} has per-layer rates or unfreezing (train.fine_tune)"
        if any(not p.requires_grad for p in t.model.parameters()):
            return f"member {i} has frozen parameters (model.freeze)"
    for name, module in first.model.named_modules():
        kind = type(module).__name__
        if "Dropout" in kind and type(module) is not torch.nn.Dropout:
            return f"layer {name} ({kind}) draws randomness a batched population cannot reproduce"
    return None


class PopulationTrainer:
    """Trains ``trainers`` (members of one architecture on one dataset) together.

    Args:
        trainers: the members, fully built (seeds, optimizers, callbacks, checkpoint folders).
        log: receives population-level lines (the members log to their own runs).
        batched: False forces the sequential path (one member after another).

    After :meth:`fit`, each member's ``model`` holds its trained weights (a view of the stacked
    tensors while training, its own storage afterwards) and ``failed`` maps the index of a member
    whose training failed (non-finite loss) to the error.
    """

    def __init__(
        self,
        trainers: Sequence[Trainer],
        *,
        log: Callable[[str], None] | None = None,
        batched: bool = True,
    ) -> None:
        self.members = list(trainers)
        self._log = log
        self.blocker = batch_blocker(self.members) if batched else "the sequential path was asked for"
        self.batched = self.blocker is None
        self.failed: dict[int, TrainingError] = {}
        self._frozen: dict[int, dict[str, torch.Tensor]] = {}
        if self.batched:
            self._stack()

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    # -- stacking --------------------------------------------------------------------------------
    def _stack(self) -> None:
        """Stack the members' parameters and buffers and make each member's tensors views of
        their slices, so the members' optimizers update the stacked tensors in place."""
        models = [t.model for t in self.members]
        params, buffers = stack_module_state(models)  # type: ignore[arg-type]
        self.params: dict[str, torch.Tensor] = params
        self.buffers: dict[str, torch.Tensor] = buffers
        for k, model in enumerate(models):
            for name, p in model.named_parameters():
                p.data = params[name].detach()[k]
            for name, _ in model.named_buffers():
                owner, _, leaf = name.rpartition(".")
                module = model.get_submodule(owner) if owner else model
                module._buffers[leaf] = buffers[name][k]
        # A skeleton on the meta device whose tensors functional_call replaces; dropout becomes a
        # layer whose masks are inputs.
        skeleton = copy.deepcopy(models[0]).to("meta")
        self.dropouts: list[tuple[str, float, tuple[int, ...]]] = []
        shapes = list(getattr(models[0], "layer_shapes", []))
        input_shape = tuple(getattr(models[0], "input_shape", ()))
        for i, (lname, layer) in enumerate(skeleton.named_children()):
            for pname, part in list(layer.named_children()):
                if type(part) is torch.nn.Dropout:
                    shape = tuple(shapes[i - 1]) if i > 0 else input_shape
                    setattr(layer, pname, _MaskDropout(part.p))
                    self.dropouts.append((f"{lname}.{pname}", float(part.p), shape))
        self.skeleton = skeleton
        self.structure = models[0]
        # The grouped forward where every layer has one (fast on CPUs), else vmap of functional_call.
        self.grouped = grouped_blocker(models[0]) is None
        self._parts = grouped_plan(leaf_modules(models[0]))
        # Weights (per member ndim > 1) for the λ/2m Σw² term, when a member has one.
        self._l2 = (
            [n for n, p in params.items() if p.ndim > 2] if any(t._l2_coef for t in self.members) else []
        )
        first = self.members[0]
        self._member_params = [[p for _, p in t.model.named_parameters()] for t in self.members]
        self._param_names = [n for n, _ in first.model.named_parameters()]
        self._setup_optimizer()

    def _setup_optimizer(self) -> None:
        """One optimizer over the stacked tensors when the members differ at most in their
        learning rates (seeds, or a tuned rate): it runs with rate 1 and each member's step is
        scaled by its own current rate, which is exact for every ``torch.optim`` update this project
        registers (the update is the rate times a direction computed from gradients and state).
        Otherwise each member's own optimizer steps its own slice."""
        first = self.members[0]
        opt_cfgs = {t.cfg.optimizer.model_copy(update={"lr": 1.0}).model_dump_json() for t in self.members}
        per_batch = any(t.schedule.per_batch for t in self.members)  # one_cycle also cycles momentum
        self.stacked_opt: torch.optim.Optimizer | None = None
        if len(opt_cfgs) == 1 and not per_batch:
            unit = first.cfg.optimizer.model_copy(update={"lr": 1.0})
            # Fused where torch has it: the stacked tensors are few and large.
            self.stacked_opt = create_optimizer(unit, list(self.params.values()), fused=True)
            for t in self.members:
                # A member's optimizer now only carries its rate (driven by its own schedule); tell
                # torch's schedulers that the steps happen, so they do not warn about the order.
                t.optimizer._opt_called = True  # type: ignore[attr-defined]
        n = len(self.members)
        self._lr_shapes = [(n,) + (1,) * (p.ndim - 1) for p in self.params.values()]
        owner = first._grad_owner
        self._grad_owner = owner
        self._n_layers = len(first._grad_layers)

    def _forward(
        self, x: torch.Tensor, masks: dict[str, torch.Tensor] | None, shared_input: bool = False
    ) -> torch.Tensor:
        """All members' logits: ``x`` is ``(N, B, ...)``, or ``(B, ...)`` for all with ``shared_input``."""
        n = len(self.members)
        if self.grouped:
            xs = x.expand(n, *x.shape) if shared_input else x
            training = self.skeleton.training
            return grouped_forward(
                self.structure, self.params, self.buffers, xs, masks or {}, training, self._parts
            )
        tensors = {**self.buffers, **{f"{k}.mask": v for k, v in (masks or {}).items()}}

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
            return functional_call(self.skeleton, (p, b), (xb,))

        in_dims = (0, 0, None if shared_input else 0)
        return vmap(one, in_dims=in_dims)(self.params, tensors, x)  # type: ignore[no-any-return]

    def _masks(self, batch: int, gens: list[torch.Generator]) -> dict[str, torch.Tensor]:
        """Each dropout layer's mask per member, drawn as ``F.dropout`` draws it on a CPU
        (``empty_like(x).bernoulli_(1 - p)``, divided by ``1 - p``), in forward order: member k's
        draws fill row k of one ``(N, batch, ...)`` tensor, the same numbers as a tensor of its own."""
        device = self.members[0].device
        n = len(gens)
        masks = {
            name: torch.empty((n, batch, *shape), device=device)
            for name, p, shape in self.dropouts
            if 0.0 < p < 1.0
        }
        for k, gen in enumerate(gens):
            for name, p, _ in self.dropouts:
                if name in masks:
                    masks[name][k].bernoulli_(1 - p, generator=gen)
        for name, p, shape in self.dropouts:
            if name in masks:
                masks[name].div_(1 - p)
            else:  # p = 0 keeps everything, p = 1 nothing
                masks[name] = torch.full((n, batch, *shape), 1.0 - p, device=device)
        return masks

    # -- the step loop ---------------------------------------------------------------------------
    def _active(self) -> list[int]:
        return [
            k
            for k, t in enumerate(self.members)
            if k not in self.failed and t.stop_reason is None and t.epoch < t.cfg.epochs
        ]

    def train_epoch(self, epoch: int, active: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass of every member over its own permutation of the training split; returns each
        member's (mean loss, accuracy) as ``(N,)`` device tensors. Only ``active`` members step."""
        members = self.members
        first = members[0]
        train = first.data.splits["train"]
        x, y, n = train.x, train.y, first.epoch_size
        device = first.device
        orders, pools, aug_gens, drop_gens = [], [], [], []
        for t in members:
            gen = torch.Generator(device=device).manual_seed(epoch_seed(t.seed, epoch, 0))
            pools.append(t.index_sampler(gen) if t.index_sampler is not None else None)
            orders.append(t._batches(n, gen))
            aug_gens.append(torch.Generator(device=device).manual_seed(epoch_seed(t.seed, epoch, 1)))
            drop_gens.append(torch.Generator(device=device).manual_seed(epoch_seed(t.seed, epoch, 2)))
        self.skeleton.train()
        for t in members:
            t.model.train()
            t._grad_sum.zero_()
        l2 = torch.tensor([t._l2_coef for t in members], device=device)
        losses: list[torch.Tensor] = []
        sizes: list[int] = []
        preds: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        # Plain members (no sampler, augmentation or sample weights, one loss) gather their batches
        # in one indexing and share one loss call; the others go member by member.
        plain = all(
            p is None and t.batch_transform is None and t.sample_weight is None
            for p, t in zip(pools, members, strict=True)
        )
        shared_loss = (
            plain
            and len({t.cfg.loss.model_dump_json() for t in members}) == 1
            and first.loss_fn.weight is None
        )
        for step, idxs in enumerate(zip(*orders, strict=True)):
            if plain:
                idx_all = torch.stack(idxs)
                xb_all, yb_all = x[idx_all], y[idx_all]
                ys = list(yb_all)
                batch = idx_all.shape[1]
                sws: list[torch.Tensor | None] = [None] * len(members)
            else:
                xs, ys, sws = [], [], []
                for k, t in enumerate(members):
                    pool = pools[k]
                    idx = idxs[k] if pool is None else pool[idxs[k]]
                    xb, yb = x[idx], y[idx]
                    if t.batch_transform is not None:
                        xb, yb = t.batch_transform(xb, yb, aug_gens[k])
                    xs.append(xb)
                    ys.append(yb)
                    sws.append(t.sample_weight[idx] if t.sample_weight is not None else None)
                xb_all = torch.stack(xs)
                batch = xs[0].shape[0]
            masks = self._masks(batch, drop_gens) if self.dropouts else None
            with autocast(device, first.amp_dtype):
                logits = self._forward(xb_all, masks)
                if shared_loss:
                    flat = first.loss_fn.per_example(
                        logits.reshape(-1, logits.shape[-1]), yb_all.reshape(-1), "none"
                    )
                    per = flat.view(len(members), batch).mean(1)
                else:
                    per = torch.stack([t.loss_fn(logits[k], ys[k], sws[k]) for k, t in enumerate(members)])
            if self._l2:  # λ/2m Σw² per member, as the standalone step adds it
                per = per + l2 * sum(self.params[nm].pow(2).flatten(1).sum(1) for nm in self._l2)
            for p in self.params.values():
                p.grad = None
            per.sum().backward()  # members are independent: d(sum)/d(member k) = d(loss k)
            self._step(step, active)
            losses.append(per.detach())
            sizes.append(batch)
            preds.append(logits.detach().argmax(-1))
            targets.append(
                yb_all if plain else torch.stack([yb if yb.ndim == 1 else yb.argmax(1) for yb in ys])
            )
        weights = torch.tensor(sizes, device=device, dtype=torch.float32)
        mean_loss = (torch.stack(losses).float() * weights[:, None]).sum(0) / n
        accuracy = (torch.cat(preds, 1) == torch.cat(targets, 1)).float().mean(1)
        return mean_loss, accuracy

    def _step(self, step: int, active: list[int]) -> None:
        """The optimizer step of the ``active`` members (the others keep their weights)."""
        members = self.members
        if self.stacked_opt is None:  # each member's own optimizer on its own slice
            for k in active:
                t = members[k]
                for p, name in zip(self._member_params[k], self._param_names, strict=True):
                    grad = self.params[name].grad
                    p.grad = grad[k] if grad is not None else None
                t._after_backward(step)
                t.optimizer.step()
                t.schedule.step_batch()
            return
        first = members[0]
        params = [p for p in self.params.values() if p.grad is not None]
        grads = [p.grad for p in params]
        with torch.no_grad():
            if first.cfg.grad_stats and step % first._grad_every == 0 and len(params) == len(self.params):
                self._grad_stats([g for g in grads if g is not None])
            if first.cfg.clip_grad_norm:  # clip_grad_norm_ of each member: its own global norm
                sq = torch.stack([g.flatten(1).float().pow(2).sum(1) for g in grads if g is not None])  # type: ignore[union-attr]
                coef = (first.cfg.clip_grad_norm / (sq.sum(0).sqrt() + 1e-6)).clamp(max=1.0)
                for g in grads:
                    g.mul_(coef.view((-1,) + (1,) * (g.ndim - 1)).to(g.dtype))  # type: ignore[union-attr]
            lrs = [float(members[k].optimizer.param_groups[0]["lr"]) for k in range(len(members))]
        if len({lrs[k] for k in active}) == 1:
            # One rate for every member still training (seeds): a plain step at that rate. Finished
            # members move too, but their weights were set aside when they stopped.
            for group in self.stacked_opt.param_groups:
                group["lr"] = lrs[active[0]]
            self.stacked_opt.step()
            return
        with torch.no_grad():
            rates = self._rates(tuple(lr if k in active else 0.0 for k, lr in enumerate(lrs)))
            before = [p.detach().clone() for p in params]
            for group in self.stacked_opt.param_groups:
                group["lr"] = 1.0
        self.stacked_opt.step()
        with torch.no_grad():
            # p ← p0 + rate·(p1 − p0): the rate-1 step scaled by each member's rate (0: stopped).
            views = {id(p): v for p, v in zip(self.params.values(), rates, strict=True)}
            torch._foreach_sub_(params, before)
            torch._foreach_mul_(params, [views[id(p)] for p in params])
            torch._foreach_add_(params, before)

    def _rates(self, values: tuple[float, ...]) -> list[torch.Tensor]:
        """Each stacked tensor's ``(N, 1, ...)`` view of the members' rates (rebuilt on change)."""
        if getattr(self, "_rates_key", None) != values:
            rates = torch.tensor(values, device=self.members[0].device)
            self._rates_key = values
            self._rate_views = [
                rates.view(shape).to(p.dtype)
                for shape, p in zip(self._lr_shapes, self.params.values(), strict=True)
            ]
        return self._rate_views

    def _grad_stats(self, grads: list[torch.Tensor]) -> None:
        """Each member's per-layer gradient norms, added to its epoch sums (as a standalone step)."""
        norms = torch.stack([g.flatten(1).float().norm(dim=1) for g in grads])  # (P, N)
        per_layer = torch.zeros(self._n_layers, norms.shape[1], device=norms.device)
        per_layer.index_add_(0, self._grad_owner, norms.square())
        per_layer = per_layer.sqrt()
        for k, t in enumerate(self.members):
            t._grad_sum += per_layer[:, k]

    def _sync_optimizer_state(self) -> None:
        """Copy each member's slice of the stacked optimizer state into its own optimizer, so its
        checkpoint holds what a standalone run's would (read once per epoch)."""
        if self.stacked_opt is None:
            return
        n = len(self.members)
        for i, stacked in enumerate(self.params.values()):
            state = self.stacked_opt.state.get(stacked)
            if not state:
                continue
            for k, t in enumerate(self.members):
                p = self._member_params[k][i]
                t.optimizer.state[p] = {
                    key: (
                        v[k].clone()
                        if v.ndim > 0 and v.shape[0] == n and v.shape == stacked.shape
                        else v.clone()
                    )
                    if isinstance(v, torch.Tensor)
                    else v
                    for key, v in state.items()
                }

    @torch.no_grad()
    def predict_logits(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Every member's logits for ``x`` in eval mode: ``(N, len(x), K)``."""
        self.skeleton.eval()
        out = []
        first = self.members[0]
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size]
            with autocast(x.device, first.amp_dtype):
                out.append(self._forward(chunk, None, shared_input=True).float())
        return torch.cat(out, 1)

    def validate(self) -> list[list[torch.Tensor] | None]:
        """Each member's :meth:`Trainer.validate` values from one batched forward (None for all
        when there is no dev split)."""
        dev = self.members[0].data.splits.get("dev")
        if dev is None or len(dev) == 0:
            return [None] * len(self.members)
        logits = self.predict_logits(dev.x)
        out: list[list[torch.Tensor] | None] = []
        for k, t in enumerate(self.members):
            ce, acc = loss_and_accuracy(logits[k], dev.y)
            # As Trainer.validate: val_loss is the training loss, the cross-entropy beside it.
            out.append(
                [ce, acc] if t._plain_ce else [t.loss_fn.per_example(logits[k], dev.y, "mean"), acc, ce]
            )
        return out

    # -- the epoch loop --------------------------------------------------------------------------
    def fit(self) -> list[list[dict[str, Any]]]:
        """Train every member to its ``cfg.epochs`` (or its early stop); returns the histories."""
        if not self.batched:
            self.log(f"population of {len(self.members)}: trained one member after another ({self.blocker})")
            for k, t in enumerate(self.members):
                try:
                    t.fit()
                except TrainingError as exc:
                    self.failed[k] = exc
                    self.log(f"member {k}: {exc}")
            return [t.history for t in self.members]
        how = "grouped layers" if self.grouped else "torch.func.vmap of functional_call"
        opt = "one stacked optimizer" if self.stacked_opt is not None else "each member's own optimizer"
        self.log(f"population of {len(self.members)}: trained together ({how}, {opt})")
        if any(t.cfg.compile for t in self.members):
            self.log("train.compile is not applied to the population's batched step")
        for t in self.members:
            t.begin_fit()
        while active := self._active():
            epoch = min(self.members[k].epoch for k in active)
            start = time.perf_counter()
            lrs = [t.current_lr() for t in self.members]
            for k in active:
                self.members[k].begin_epoch(epoch)
            loss_t, acc_t = self.train_epoch(epoch, active)
            val = self.validate()
            self._sync_optimizer_state()
            for k in active:
                t = self.members[k]
                try:
                    t.end_epoch(epoch, loss_t[k], acc_t[k], val[k], lrs[k], start)
                except TrainingError as exc:
                    self.failed[k] = exc
                    t.log(str(exc))
                    self.log(f"member {k}: {exc}")
                if k in self.failed or t.stop_reason is not None or t.epoch >= t.cfg.epochs:
                    # A finished member keeps its weights: the batched forward still computes it
                    # (batch-norm statistics would move), so its state is set aside here.
                    self._frozen[k] = {n: v.detach().clone() for n, v in t.model.state_dict().items()}
            self.log(self._epoch_line(epoch, active))
        self._unstack()
        for k, t in enumerate(self.members):
            if k not in self.failed:
                t.end_fit()
        return [t.history for t in self.members]

    def _epoch_line(self, epoch: int, active: list[int]) -> str:
        parts = []
        for k in active:
            logs = self.members[k].history[-1] if self.members[k].history else {}
            acc = logs.get("val_accuracy", logs.get("accuracy"))
            parts.append(f"{k}:{acc:.4f}" if isinstance(acc, float) else f"{k}:-")
        return f"epoch {epoch + 1}: val_accuracy per member " + " ".join(parts)

    def _unstack(self) -> None:
        """Give every member its own storage again (its final or set-aside state)."""
        for k, t in enumerate(self.members):
            state = self._frozen.get(k) or {n: v.detach().clone() for n, v in t.model.state_dict().items()}
            for name, p in t.model.named_parameters():
                p.data = state[name].clone()
                p.grad = None
            for name, _ in t.model.named_buffers():
                owner, _, leaf = name.rpartition(".")
                module = t.model.get_submodule(owner) if owner else t.model
                module._buffers[leaf] = state[name].clone()
        self.params, self.buffers = {}, {}
