"""``knobwise augment-preview CONFIG [--n 32] [--out FILE.png]``: see what the augmentation knobs do.

Draws a grid of training images, each original beside its augmented version (made by exactly
the pipeline training uses, with the config's seed), and saves it as a PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from knobwise.cli._common import add_overrides, print_json
from knobwise.cli._outputs import beside_config
from knobwise.config import load_config
from knobwise.errors import ConfigError
from knobwise.io import atomic_write_bytes
from knobwise.report import preview_png


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="experiment YAML with data.augment")
    parser.add_argument("--n", type=int, default=32, metavar="N", help="how many images")
    parser.add_argument(
        "--out",
        metavar="FILE.png",
        help="the image to write (default: CONFIG_STEM.augment-preview.png next to the config)",
    )
    add_overrides(parser)
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    out = Path(args.out) if args.out else beside_config(args.config, "augment-preview.png")
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file, got {args.out}")
    cfg = load_config(args.config, args.overrides)
    if cfg.data.augment is None:
        raise ConfigError(f"{args.config}: no data.augment section; nothing to preview")
    png, shown, described = preview_png(cfg, args.n)
    atomic_write_bytes(out, png)
    if args.json:
        print_json({"out": str(out), "n": shown, "augment": described})
    else:
        print(f"wrote {out} ({shown} originals beside their augmented versions)")
    return 0
