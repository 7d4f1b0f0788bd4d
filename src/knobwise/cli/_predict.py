"""``knobwise predict RUN INPUT... [--top K] [--json | --csv FILE] [--resize]``.

INPUTs are image files, folders of images, or ``.npz`` files (key ``x``); each image is decoded
and normalized exactly as in training and checked against the model's input size.
"""

from __future__ import annotations

import argparse

from knobwise.api import load_run
from knobwise.cli._common import print_json
from knobwise.run import Prediction


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory written by knobwise train")
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders of images, or .npz files (key x)"
    )
    p.add_argument("--top", type=int, default=1, metavar="K", help="list the K most probable classes")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the predictions as JSON")
    out.add_argument("--csv", metavar="FILE", help="write the predictions to a CSV file")
    p.add_argument(
        "--resize",
        action="store_true",
        help="resize images to the model's input size (bilinear) instead of refusing other sizes",
    )
    p.add_argument("--device", default="auto", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass")


def _print_table(pred: Prediction, top: int) -> None:
    width = max((len(i) for i in pred.ids), default=2)
    for ident, ranked in zip(pred.ids, pred.topk(top), strict=True):
        cells = "  ".join(f"{name} {p:.4f}" for name, p in ranked)
        print(f"{ident:<{width}}  {cells}")


def run(args: argparse.Namespace) -> int:
    run_ = load_run(args.run, device=args.device)
    pred = run_.predict(args.inputs, top=args.top, batch_size=args.batch_size, resize=args.resize)
    if args.json:
        print_json(pred.to_dict())
    elif args.csv:
        pred.write_csv(args.csv)
        print(f"wrote {args.csv} ({len(pred)} images)")
    else:
        _print_table(pred, args.top)
    return 0
