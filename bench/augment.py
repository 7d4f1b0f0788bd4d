"""Augmentation throughput and the cost of an augmented epoch, measured in one run on one device.

1. Images/second of the augmentation pipeline on MNIST-sized (N×1×28×28) and CIFAR-sized
   (N×3×32×32) batches, for the reference Keras recipes (geometry only: one composed matrix
   per image, one warp) and for every knob at once (geometry + elastic, blur, noise, cutout,
   invert, brightness, channel shift, crop, MixUp/CutMix); kornia's ``RandomAffine`` module on the
   same batch is timed as the reference.
2. One training epoch of the Keras-style MNIST CNN, plain vs augmented (rotation 5°, zoom 0.2,
   shifts 0.15), alternated ``--rounds`` times on the same data, model and device; the ratio of
   the medians is printed (GPU target: <= 1.3).

    KNOBWISE_DATA_DIR=../shared/data python bench/augment.py                 # MNIST subset of 6000
    python bench/augment.py --threads 1 --rounds 0                           # throughput only, 1 thread
    python bench/augment.py --limit 60000 --rounds 3 --device cuda

Data: ``$KNOBWISE_DATA_DIR/mnist`` (see ../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch

from knobwise.config import AugmentConfig, load_config
from knobwise.data import AugmentPipeline, prepare_data
from knobwise.device import resolve_device
from knobwise.models import build_model
from knobwise.train import Trainer

KERAS_MNIST = AugmentConfig(rotation_range=5, zoom_range=0.2, width_shift_range=0.15, height_shift_range=0.15)
KERAS_CIFAR = AugmentConfig(
    rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True
)
EVERYTHING = AugmentConfig(
    rotation_range=10,
    width_shift_range=0.1,
    height_shift_range=0.1,
    shear_range=5,
    zoom_range=0.1,
    horizontal_flip=True,
    brightness_range=(0.8, 1.2),
    channel_shift_range=10,
    fill_mode="reflect",
    random_crop={"padding": 2},
    cutout={"size": 0.3, "p": 0.5},
    invert={"p": 0.1},
    gaussian_noise={"std": 0.05, "p": 0.5},
    gaussian_blur={"sigma": (0.3, 1.0), "p": 0.5},
    elastic={"alpha": 34, "sigma": 4, "p": 0.5},
    mixup={"alpha": 0.2, "p": 0.3},
    cutmix={"alpha": 1.0, "p": 0.3},
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(fn: object, x: torch.Tensor, y: torch.Tensor, reps: int) -> tuple[float, float]:
    """Images/second of ``fn(x, y, generator)``: (median, best) over ``reps`` calls after a warm-up.
    The best call is shown too because a shared machine inflates the median."""
    g = torch.Generator(device=x.device).manual_seed(0)
    call = fn  # type: ignore[assignment]
    call(x, y, g)  # type: ignore[operator]
    times = []
    for _ in range(reps):
        _sync(x.device)
        t = time.perf_counter()
        call(x, y, g)  # type: ignore[operator]
        _sync(x.device)
        times.append(time.perf_counter() - t)
    return len(x) / statistics.median(times), len(x) / min(times)


def bench_pipeline(device: torch.device, batch: int, reps: int) -> None:
    import kornia.augmentation as K

    print(f"augmentation throughput, batch {batch}, {reps} calls each: images/s median (best)")
    for name, shape, recipe in (("MNIST", (1, 28, 28), KERAS_MNIST), ("CIFAR", (3, 32, 32), KERAS_CIFAR)):
        x = torch.rand(batch, *shape, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        kornia_affine = K.RandomAffine(
            degrees=recipe.rotation_range, translate=(0.1, 0.1), scale=(0.9, 1.1), p=1.0
        )
        rows = [
            ("Keras recipe (1 matrix + 1 warp)", AugmentPipeline(recipe, num_classes=10)),
            ("every knob at once", AugmentPipeline(EVERYTHING, num_classes=10)),
            ("kornia RandomAffine module (ref.)", lambda xb, yb, g, m=kornia_affine: (m(xb), yb)),
        ]
        for label, fn in rows:
            med, best = throughput(fn, x, y, reps)
            size = "x".join(map(str, shape))
            ms = batch / med * 1e3
            print(f"  {name:<5} {size:<8} {label:<36} {med:>9,.0f} ({best:,.0f})  {ms:6.1f} ms/batch median")


def bench_epoch(device: torch.device, limit: int, rounds: int, batch: int) -> None:
    cfg = load_config(
        None,
        [
            "data.dataset=mnist",
            f"data.limit={limit}",
            "data.normalize=none",
            "model.name=keras_mnist_cnn",
            f"train.batch_size={batch}",
            "train.optimizer={name: adadelta, lr: 1.0}",
            "train.epochs=100",
        ],
    )
    data = prepare_data(cfg.data, seed=0, device=device)
    torch.manual_seed(0)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    aug = AugmentPipeline(KERAS_MNIST, data.normalizer, data.num_classes)
    plain_t = Trainer(copy.deepcopy(model), data, cfg.train, seed=0, quiet=True)
    aug_t = Trainer(copy.deepcopy(model), data, cfg.train, seed=0, quiet=True, batch_transform=aug)
    n = len(data.splits["train"])
    print(f"\nKeras MNIST CNN, one epoch of {n} training images, batch {batch}, {rounds} rounds alternated:")
    plain_times, aug_times = [], []
    for epoch in range(rounds + 1):  # round 0 warms up both
        for trainer, times in ((plain_t, plain_times), (aug_t, aug_times)):
            _sync(device)
            t = time.perf_counter()
            loss, _ = trainer.train_epoch(epoch)
            float(loss)  # the epoch's one host sync
            _sync(device)
            if epoch:
                times.append(time.perf_counter() - t)
    p, a = statistics.median(plain_times), statistics.median(aug_times)
    for label, med, times in (("plain epoch    ", p, plain_times), ("augmented epoch", a, aug_times)):
        rounds_s = ", ".join(f"{v:.2f}" for v in times)
        print(f"  {label} {med:8.2f} s  ({n / med:8,.0f} images/s)  rounds: {rounds_s}")
    print(f"  ratio augmented / plain: {a / p:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=512, help="batch size for both parts (Keras used 512)")
    ap.add_argument("--reps", type=int, default=10, help="timed calls per pipeline")
    ap.add_argument("--limit", type=int, default=6000, help="MNIST training pool for the epoch part")
    ap.add_argument(
        "--rounds", type=int, default=3, help="timed epochs of each kind (0: skip the epoch part)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared CPU, 1 thread avoids waiting for a busy core
    device = resolve_device(args.device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}"
    )
    print(f"device: {device.type} ({where}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_pipeline(device, args.batch, args.reps)
    if args.rounds:
        bench_epoch(device, args.limit, args.rounds, args.batch)


if __name__ == "__main__":
    main()
