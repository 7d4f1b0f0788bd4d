"""The augmentation preview: training images beside their augmented versions.

Made by exactly the pipeline training uses, with the config's seed. Augmented images are shown
after undoing the normalization, on the same pixel scale as the originals; with MixUp/CutMix
the title gives the two classes of the soft target. ``knobwise augment-preview`` writes it as a
PNG and the run report embeds it.

Example (needs a config with data.augment)::

    png = preview_png(load_config("examples/keras_mnist_cnn.yaml"), n=8)
"""

from __future__ import annotations

import io

import numpy as np
import torch

from knobwise.config import ExperimentConfig
from knobwise.data import AugmentPipeline, PreparedData, prepare_data
from knobwise.report._figures import pyplot

__all__ = ["render", "preview_png"]


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
    plt = pyplot()

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


def preview_png(cfg: ExperimentConfig, n: int = 16) -> tuple[bytes, int, str]:
    """PNG bytes of the preview of ``cfg``'s ``data.augment``, how many images it shows, and the
    pipeline's description."""
    assert cfg.data.augment is not None  # callers check and say so in their own words
    # The preview shows the online pipeline on the plain training images: no offline expansion.
    data = prepare_data(cfg.data.model_copy(update={"expand": None, "balance": None}), seed=cfg.seed)
    pipeline = AugmentPipeline(cfg.data.augment, data.normalizer, data.num_classes)
    return render(data, pipeline, n, cfg.seed), min(n, len(data.splits["train"])), pipeline.describe()
