"""``knobwise export RUN --format onnx|torchscript [--out FILE]``.

The file takes float32 images ``(N, C, H, W)`` scaled to ``[0, 1]`` (the normalization is inside)
and returns logits. It is verified by running it (ONNX Runtime for ONNX) on real images of the
run's data, rebuilt from its config, and compared with PyTorch (max absolute difference ≤ 1e-4).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from knobwise.api import load_run
from knobwise.cli._common import print_json
from knobwise.run import EXPORT_FORMATS

_SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory written by knobwise train")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="file format")
    p.add_argument("--out", metavar="FILE", help="file to write (default: RUN/model.onnx or RUN/model.pt)")
    p.add_argument(
        "--check-images",
        type=int,
        default=64,
        metavar="N",
        help="verify the file on N real images of the run's data",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    run_ = load_run(args.run, device="cpu")
    out = Path(args.out) if args.out else run_.root / f"model{_SUFFIX[args.format]}"
    result = run_.export(out, args.format, check_images=args.check_images)
    if args.json:
        print_json(
            {
                "path": str(result.path),
                "format": result.format,
                "max_abs_diff": result.max_abs_diff,
                "examples": result.examples,
                "exporter": result.exporter,
            }
        )
    else:
        print(
            f"wrote {result.path} ({result.format}, {result.exporter}); max |logit difference| to PyTorch "
            f"{result.max_abs_diff:.2e} on {result.examples} images"
        )
    return 0
