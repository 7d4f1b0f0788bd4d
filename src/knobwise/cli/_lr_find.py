"""``knobwise lr-find [CONFIG] [--set key=value ...] [--steps N] [--plot FILE.png] [--json]``."""

from __future__ import annotations

import argparse

import torch

from knobwise.cli._common import add_overrides, print_json
from knobwise.cli._outputs import beside_config
from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.device import resolve_device
from knobwise.diagnose import lr_find, plot_lr_find
from knobwise.models import build_from_layers, resolve_layers


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", metavar="CONFIG", help="experiment YAML (default: the quickstart)")
    add_overrides(p)
    p.add_argument("--steps", type=int, default=200, metavar="N", help="steps of the test")
    p.add_argument("--min-lr", type=float, default=1e-7, metavar="LR", help="first learning rate")
    p.add_argument("--max-lr", type=float, default=10.0, metavar="LR", help="last learning rate")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="where to save the plot (default: CONFIG_STEM.lr_find.png next to the config)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    device = resolve_device(cfg.train.device)
    data = prepare_data(cfg.data, seed=cfg.seed, device=device)
    torch.manual_seed(cfg.seed)
    model = build_from_layers(resolve_layers(cfg.model, data.num_classes), data.input_shape, cfg.model.init)
    result = lr_find(
        model, data, cfg.train, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps, seed=cfg.seed
    )
    plot = args.plot or beside_config(args.config, "lr_find.png")
    plot_lr_find(result, plot)
    out = {**result.to_dict(), "plot": str(plot), "optimizer": cfg.train.optimizer.name}
    if args.json:
        print_json(out)
        return 0
    print(f"lr range test ({cfg.train.optimizer.name}, {len(result.lrs)} steps, {result.stopped})")
    print(f"suggested learning rate: {result.suggestion:.3g} (steepest descent of the smoothed loss)")
    print(
        f"lowest smoothed loss at lr {result.min_loss_lr:.3g}; set train.optimizer.lr={result.suggestion:.2g}"
    )
    print(f"plot: {plot}")
    return 0
