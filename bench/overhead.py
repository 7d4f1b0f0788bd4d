"""Framework overhead: knobwise's training epoch vs a plain PyTorch loop, same model/data/device.

The reference nets of the MNIST ladder (FC-100 sigmoid, conv-20 + FC-100 sigmoid), mini-batch 10,
plain SGD, one epoch over the MNIST training split (50k images by default). Both loops get the
same device-resident tensors, the same initial weights and the same per-epoch permutation; they
are run alternately, ``--rounds`` times each, and the ratio of the medians is printed
(target: <= 1.10 on CPU).

``--tracking`` adds the cost of experiment tracking (TensorBoard and MLflow both on, MLflow in a
local SQLite file): a one-epoch ``Trainer.fit`` (with validation) without and with the trackers,
alternated in the same rounds. It prints the ratio of the medians and, less noisy on a shared
machine, the time spent inside the trackers themselves, per epoch and once per run (opening the MLflow run
with the ~150 config parameters, the TensorBoard writer and graph, closing), as shares of the
rest of the same tracked fit (measured in the same seconds, so a load that comes and goes between
the two fits does not move it; target <= 2%). ``--tracking-only`` skips the plain-loop comparison.

    python bench/overhead.py                      # both nets, full epoch
    python bench/overhead.py --limit 10000 --rounds 5 --nets fc100_sigmoid
    python bench/overhead.py --nets fc100_sigmoid --tracking
    python bench/overhead.py --nets fc100_sigmoid --tracking-only --rounds 2

Data: ``$KNOBWISE_DATA_DIR/mnist`` (see ../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from knobwise.config import load_config
from knobwise.data import PreparedData, prepare_data
from knobwise.device import resolve_device
from knobwise.models import build_model
from knobwise.track import Tracking, open_tracking
from knobwise.train import Callback, Trainer, epoch_seed


def plain_epoch(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    batch: int,
    generator: torch.Generator,
) -> None:
    """The floor: the shortest correct PyTorch training epoch over device-resident tensors."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    perm = torch.randperm(x.shape[0], generator=generator, device=x.device)
    for start in range(0, x.shape[0], batch):
        idx = perm[start : start + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()


def knobwise_epoch(model: torch.nn.Module, data: PreparedData, cfg, seed: int) -> None:  # type: ignore[no-untyped-def]
    """One epoch of knobwise's Trainer (its step loop, with loss/accuracy accumulated on the device)."""
    trainer = Trainer(model, data, cfg.train, seed=seed, quiet=True)
    loss, acc = trainer.train_epoch(0)
    torch.stack([loss, acc]).tolist()  # the one read per epoch the Trainer does


class TimedTracking(Callback):
    """The trackers, with the wall time spent inside them: once per run (opening the MLflow run
    with the config's parameters, the TensorBoard writer, the graph; closing) and per epoch."""

    def __init__(self, tracking: Tracking) -> None:
        self.tracking = tracking
        self.per_run = 0.0
        self.per_epoch = 0.0

    def _timed(self, fn: Any, *args: Any) -> float:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start

    def on_train_begin(self, trainer: Trainer) -> None:
        self.per_run += self._timed(self.tracking.on_train_begin, trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.per_epoch += self._timed(self.tracking.on_epoch_end, trainer, epoch, logs)

    def close(self) -> None:
        self.per_run += self._timed(self.tracking.close)


def fit_epoch(
    model: torch.nn.Module, data: PreparedData, cfg, seed: int, timed: TimedTracking | None
) -> None:  # type: ignore[no-untyped-def]
    """One epoch of ``Trainer.fit`` (training, validation, the per-epoch callbacks)."""
    trainer = Trainer(model, data, cfg.train, seed=seed, quiet=True, callbacks=[timed] if timed else [])
    trainer.fit()
    if timed is not None:
        timed.close()


def tracking_rounds(cfg, data: PreparedData, base: torch.nn.Module, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Medians of the untracked fit, the tracked fit, the trackers' own per-epoch and per-run
    time, and those two as shares of the rest of the tracked fit, alternated per round."""
    tmp = Path(tempfile.mkdtemp(prefix="knobwise-bench-"))
    tracked_cfg = cfg.model_copy(deep=True)
    tracked_cfg.track = type(cfg.track).model_validate(
        {"tensorboard": True, "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlruns.db'}"}}
    )
    times: list[list[float]] = [[], [], [], [], [], []]
    for r in range(rounds + 1):  # round 0 creates the MLflow database and imports; not counted
        t0 = time.perf_counter()
        fit_epoch(copy.deepcopy(base), data, cfg, 0, None)
        t1 = time.perf_counter()
        timed = TimedTracking(open_tracking(tracked_cfg, tmp / f"run-{r}", log=print))
        fit_epoch(copy.deepcopy(base), data, cfg, 0, timed)
        t2 = time.perf_counter()
        if r:
            rest = t2 - t1 - timed.per_epoch - timed.per_run  # training, validation, the loop
            values = (t1 - t0, t2 - t1, timed.per_epoch, timed.per_run)
            for i, value in enumerate((*values, timed.per_epoch / rest, timed.per_run / rest)):
                times[i].append(value)
            inside = f"{1000 * timed.per_epoch:.1f} ms per epoch, {1000 * timed.per_run:.0f} ms per run"
            print(f"  round {r}: untracked {t1 - t0:.2f} s, tracked {t2 - t1:.2f} s, trackers {inside}")
    return [statistics.median(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="fc100_sigmoid,conv20_fc100_sigmoid")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="training examples (default: 50k of MNIST)")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tracking", action="store_true", help="also measure TensorBoard + MLflow tracking")
    ap.add_argument("--tracking-only", action="store_true", help="measure the tracking only")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(
        f"device {device} | torch {torch.__version__} | threads {torch.get_num_threads()}"
        f" | batch {args.batch}"
    )
    print(f"{'net':<24}{'examples':>9}{'plain s':>10}{'knobwise s':>12}{'ratio':>8}")
    for net in args.nets.split(","):
        overrides = [
            "data.dataset=mnist",
            "data.normalize=none",
            f"model.name={net}",
            "model.init=normal_sqrt_n_in",
            "data.split={train: 0.8333333333, dev: 0.1666666667, test: 0.0}",
            "train.optimizer.name=sgd",
            "train.optimizer.lr=0.1",
            f"train.batch_size={args.batch}",
            "train.epochs=1",
            "train.precision=fp32",
            "train.channels_last=false",
        ]
        if args.limit:
            overrides.append(f"data.limit={args.limit}")
        cfg = load_config(None, overrides)
        data = prepare_data(cfg.data, seed=0, device=device)
        torch.manual_seed(0)
        base = build_model(cfg.model, data.input_shape, data.num_classes).to(device)
        train = data.splits["train"]
        plain_t, kw_t = [], []
        # Round 0 warms both paths up and is not counted.
        for r in range(0 if args.tracking_only else args.rounds + 1):
            m = copy.deepcopy(base)
            g = torch.Generator(device=device).manual_seed(epoch_seed(0, 0, 0))
            t0 = time.perf_counter()
            plain_epoch(m, train.x, train.y, 0.1, args.batch, g)
            t1 = time.perf_counter()
            knobwise_epoch(copy.deepcopy(base), data, cfg, seed=0)
            t2 = time.perf_counter()
            if r:
                plain_t.append(t1 - t0)
                kw_t.append(t2 - t1)
        if plain_t:
            p, k = statistics.median(plain_t), statistics.median(kw_t)
            print(f"{net:<24}{len(train):>9}{p:>10.2f}{k:>12.2f}{k / p:>8.3f}")
        if args.tracking or args.tracking_only:
            u, t, epoch_s, run_s, epoch_share, run_share = tracking_rounds(cfg, data, base, args.rounds)
            print(
                f"{'':<24}tracking, 1-epoch fit: untracked {u:.2f} s, tracked {t:.2f} s, ratio {t / u:.3f}\n"
                f"{'':<24}inside the trackers: per epoch {1000 * epoch_s:.1f} ms = {100 * epoch_share:.2f}% "
                f"of the epoch; once per run {1000 * run_s:.0f} ms = {100 * run_share:.2f}%"
            )


if __name__ == "__main__":
    main()
