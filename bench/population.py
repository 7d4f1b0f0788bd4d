"""Population training vs N standalone trainings: wall time of one training epoch, same data.

For each net and each population size N, N members (seeds 0..N-1) are trained for one epoch as
one population (:class:`knobwise.train.PopulationTrainer`) and, alternately in the same run, as N
standalone :class:`knobwise.train.Trainer` epochs one after another; both paths first run one
untimed warm-up epoch. The ratio sequential / population is printed (target on a 2-core CPU:
>= 3 for 8 members of the digits CNN; on a GPU >= 10 for 16 members of the MNIST conv-20 net).

    python bench/population.py                                  # all nets, N = 1 4 8 16
    python bench/population.py --nets digits_cnn --sizes 8 --rounds 3 --threads 1
    python bench/population.py --whole-runs --sizes 8 --epochs 15  # the quickstart, as a user runs it

``--whole-runs`` times what a user waits for instead: one ``knobwise train --population N``
process against N ``knobwise train --set train.seed=k`` processes run one after another (the same
members: seeds 0..N-1, the quickstart config, ``--epochs`` epochs, each writing its run directory
and report), alternated, wall time of the processes.

Nets: ``digits_cnn`` (the quickstart: conv 16, conv 32, max-pool, dense 64, dropout; Adam, batch
32, the bundled digits), ``mlp`` (dense 100 on digits, same training), ``conv20`` (the MNIST
ladder's conv-20 + FC-100 sigmoid net, SGD, mini-batch 10, ``--mnist-limit`` training images).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from knobwise.config import ExperimentConfig, load_config
from knobwise.data import PreparedData, prepare_data
from knobwise.device import resolve_device
from knobwise.models import build_model
from knobwise.train import PopulationTrainer, Trainer


def _config(net: str, mnist_limit: int) -> ExperimentConfig:
    if net == "digits_cnn":
        return load_config(None, [])
    if net == "mlp":
        return load_config(None, ["model.name=mlp"])
    if net == "conv20":
        return load_config("examples/mnist_conv20_fc100_sigmoid.yaml", [f"data.limit={mnist_limit}"])
    raise SystemExit(f"unknown net {net!r}: digits_cnn | mlp | conv20")


def _trainers(cfg: ExperimentConfig, data: PreparedData, n: int) -> list[Trainer]:
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        out.append(Trainer(model, data, cfg.train, seed=seed, quiet=True))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def population_epoch(cfg: ExperimentConfig, data: PreparedData, n: int) -> float:
    pop = PopulationTrainer(_trainers(cfg, data, n))
    if not pop.batched:  # a population of one trains as a standalone run
        return sequential_epochs(cfg, data, n)
    active = list(range(n))
    torch.stack(list(pop.train_epoch(0, active))).tolist()  # warm-up
    gc.collect()  # the other path's garbage is not this one's time
    start = time.perf_counter()
    torch.stack(list(pop.train_epoch(1, active))).tolist()  # the epoch's one read, as fit() does
    _sync(data.splits["train"].x.device)
    return time.perf_counter() - start


def sequential_epochs(cfg: ExperimentConfig, data: PreparedData, n: int) -> float:
    trainers = _trainers(cfg, data, n)
    for t in trainers:
        torch.stack(list(t.train_epoch(0))).tolist()  # warm-up
    gc.collect()
    start = time.perf_counter()
    for t in trainers:
        torch.stack(list(t.train_epoch(1))).tolist()
    _sync(data.splits["train"].x.device)
    return time.perf_counter() - start


def _knobwise(args: list[str], out: str) -> None:
    cmd = [sys.executable, "-m", "knobwise", "train", *args, "--out", out, "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def whole_runs(n: int, epochs: int, rounds: int) -> None:
    """N standalone ``knobwise train`` processes vs one ``--population N`` process."""
    pop_t: list[float] = []
    seq_t: list[float] = []
    common = ["--set", f"train.epochs={epochs}"]
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            _knobwise([*common, "--population", str(n)], f"{tmp}/population")
            pop_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            for k in range(n):
                _knobwise([*common, "--set", f"train.seed={k}"], f"{tmp}/seed{k}")
            seq_t.append(time.perf_counter() - start)
    a, b = statistics.median(pop_t), statistics.median(seq_t)
    print(f"{'quickstart':<11} {n:>3} {a:>13.1f} {b:>13.1f} {b / a:>6.2f}x   (whole runs, {epochs} epochs)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=["digits_cnn", "mlp", "conv20"])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 4, 8, 16])
    p.add_argument("--rounds", type=int, default=1, help="alternated rounds; medians are compared")
    p.add_argument("--mnist-limit", type=int, default=2000, help="MNIST training images for conv20")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--whole-runs", action="store_true", help="time knobwise train processes instead")
    p.add_argument("--epochs", type=int, default=15, help="epochs per run with --whole-runs")
    args = p.parse_args()
    if args.whole_runs:
        print(f"{'net':<11} {'N':>3} {'population s':>13} {'sequential s':>13} {'ratio':>7}")
        for n in args.sizes:
            whole_runs(n, args.epochs, args.rounds)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'net':<11} {'N':>3} {'population s':>13} {'sequential s':>13} {'ratio':>7}")
    for net in args.nets:
        cfg = _config(net, args.mnist_limit)
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"device": args.device})})
        data = prepare_data(cfg.data, seed=cfg.seed, device=device)
        for n in args.sizes:
            pop_t: list[float] = []
            seq_t: list[float] = []
            for _ in range(args.rounds):  # alternated, so both see the same machine load
                pop_t.append(population_epoch(cfg, data, n))
                seq_t.append(sequential_epochs(cfg, data, n))
            a, b = statistics.median(pop_t), statistics.median(seq_t)
            print(f"{net:<11} {n:>3} {a:>13.3f} {b:>13.3f} {b / a:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
