"""``knobwise augment-preview CONFIG [--n 32] [--out FILE.png]``: see what the augmentation knobs do.

Draws a grid of training images, each original beside its augmented version (made by exactly
the pipeline training uses, with the config's seed), and saves it as a PNG (matplotlib, Agg).
Augmented images are shown after undoing the normalization, on the same pixel scale as the
originals. With MixUp/CutMix the title gives the two classes of the soft target.

Example (needs the MNIST files)::

    from knobwise.cli import main
    main(["augment-preview", "examples/keras_mnist_cnn.yaml", "--n", "8"])  # writes a PNG grid
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from knobwise.cli._common import add_overrides, print_json
from knobwise.config import load_config
from knobwise.data import AugmentPipeline, PreparedData, prepare_data
from knobwise.errors import ConfigError
from knobwise.runs import atomic_write_bytes

NAME = "augment-preview"
HELP = "Save a grid of training images beside their augmented versions (data.augment)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="a YAML experiment config with data.augment")
    parser.add_argument("--n", type=int, default=32, help="how many images (default 32)")
    parser.add_argument("--out", default="augment-preview.png", metavar="FILE.png", help="the image to write")
    add_overrides(parser)
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def _pixels(x: torch.Tensor, data: PreparedData) -> np.ndarray:
    """Normalized ``(N, C, H, W)`` back to ``[0, 1]`` pixels, ``(N, H, W, C)`` for imshow."""
    norm = data.normalizer
    scale = torch.tensor(norm.scale, device=x.device).view(1, -1, 1, 1)
    shift = torch.tensor(norm.shift, device=x.device).view(1, -1, 1, 1)
    return (x * scale + shift).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def _title(y: torch.Tensor, classes: list[str]) -> str:
    if y.ndim == 0:
        return classes[int(y)]
    top = torch.topk(y, 2)
    if float(top.values[0]) > 0.999:  # not mixed
        return classes[int(top.indices[0])]
    parts = [
        f"{classes[int(i)]} {float(v):.2f}" for v, i in zip(top.values, top.indices, strict=True) if v > 0
    ]
    return " / ".join(parts)


def render(data: PreparedData, pipeline: AugmentPipeline, n: int, seed: int) -> bytes:
    """PNG bytes of the preview grid for the first ``n`` training images."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = data.splits["train"]
    n = min(n, len(train))
    x, y = train.x[:n], train.y[:n]
    g = torch.Generator(device=x.device).manual_seed(seed)
    xa, ya = pipeline(x, y, g)
    orig, aug = _pixels(x, data), _pixels(xa, data)
    cols = 4  # pairs per row
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.3, rows * 1.5), squeeze=False)
    gray = orig.shape[-1] == 1
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, cols)
        for j, (img, label) in enumerate(
            ((orig[i], _title(y[i], data.classes)), (aug[i], _title(ya[i], data.classes)))
        ):
            ax = axes[r, 2 * c + j]
            ax.imshow(img[..., 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=1)
            ax.set_title(label, fontsize=6, color="black" if j == 0 else "tab:blue")
    fig.suptitle("original (black) | augmented (blue)", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file, got {args.out}")
    cfg = load_config(args.config, args.overrides)
    if cfg.data.augment is None:
        raise ConfigError(f"{args.config}: no data.augment section; nothing to preview")
    # The preview shows the online pipeline on the plain training images: no offline expansion.
    data = prepare_data(cfg.data.model_copy(update={"expand": None, "balance": None}), seed=cfg.seed)
    pipeline = AugmentPipeline(cfg.data.augment, data.normalizer, data.num_classes)
    atomic_write_bytes(out, render(data, pipeline, args.n, cfg.seed))
    shown = min(args.n, len(data.splits["train"]))
    if args.json:
        print_json({"out": str(out), "n": shown, "augment": pipeline.describe()})
    else:
        print(f"wrote {out} ({shown} originals beside their augmented versions)")
    return 0
