"""The augmentation pipeline on real MNIST images: geometry, fill modes, randomness, reproducibility."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from knobwise.config import AugmentConfig, DataConfig
from knobwise.data import AugmentPipeline, affine_matrices, fill_values, prepare_data, warp


@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> torch.Tensor:
    """64 real MNIST training images, normalized with ``normalize: none`` (pixels in [0, 1])."""
    data = prepare_data(
        DataConfig(dataset="mnist", root=str(data_dir / "mnist"), limit=80, normalize="none"), 0
    )
    return data.splits["train"].x[:64]


def _one(n: int, value: float) -> torch.Tensor:
    return torch.full((n,), value)


def test_a_bright_pixel_moves_by_exactly_the_requested_shift() -> None:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0  # row 10, column 12
    m = affine_matrices((28, 28), _one(1, 0), _one(1, 3), _one(1, -2))  # 3 right, 2 up
    out = warp(x, m)
    assert out[0, 0, 8, 15] == pytest.approx(1.0, abs=1e-5)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-4)


def test_pixel_shifts_from_the_config_are_whole_pixels_within_range() -> None:
    x = torch.zeros(32, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0
    aug = AugmentPipeline(AugmentConfig(width_shift_range=3, height_shift_range=2, fill_mode="constant"))
    out, _ = aug(x, torch.zeros(32, dtype=torch.long), torch.Generator().manual_seed(0))
    seen = set()
    for img in out[:, 0]:
        r, c = divmod(int(img.argmax()), 28)
        assert float(img[r, c]) == pytest.approx(1.0, abs=1e-4)  # moved whole, not interpolated
        assert float(img.sum()) == pytest.approx(1.0, abs=1e-3)
        assert -3 <= c - 14 <= 3 and -2 <= r - 14 <= 2
        seen.add((r, c))
    assert len(seen) > 5


def test_two_horizontal_flips_give_the_identity(mnist: torch.Tensor) -> None:
    n, z = len(mnist), torch.zeros(len(mnist))
    flip = affine_matrices((28, 28), z, z, z, flip_h=torch.ones(n, dtype=torch.bool))
    once = warp(mnist, flip)
    assert torch.allclose(once, mnist.flip(3), atol=1e-5)
    assert torch.allclose(warp(once, flip), mnist, atol=1e-5)


def test_a_90_degree_rotation_maps_a_known_pattern(mnist: torch.Tensor) -> None:
    pattern = torch.zeros(1, 1, 5, 5)
    pattern[0, 0, 0, 2] = 1.0  # top middle
    out = warp(pattern, affine_matrices((5, 5), _one(1, 90), _one(1, 0), _one(1, 0)))
    assert out[0, 0, 2, 0] == pytest.approx(1.0, abs=1e-5)  # counter-clockwise: to the left middle
    z = torch.zeros(len(mnist))
    rotated = warp(mnist, affine_matrices((28, 28), z + 90, z, z))
    assert torch.allclose(rotated, torch.rot90(mnist, 1, dims=(2, 3)), atol=1e-4)


def test_zoom_one_and_shift_zero_leave_the_image_unchanged(mnist: torch.Tensor) -> None:
    z = torch.zeros(len(mnist))
    out = warp(mnist, affine_matrices((28, 28), z, z, z, zoom_x=z + 1, zoom_y=z + 1))
    assert torch.allclose(out, mnist, atol=1e-6)
    aug = AugmentPipeline(AugmentConfig(zoom_range=(1.0, 1.0), width_shift_range=0, rotation_range=0))
    same, _ = aug(mnist, torch.zeros(len(mnist), dtype=torch.long), torch.Generator().manual_seed(0))
    assert torch.equal(same, mnist)


def test_zoom_below_one_enlarges_as_in_keras() -> None:
    x = torch.zeros(1, 1, 29, 29)
    x[0, 0, 14, 18] = 1.0  # 4 px right of the centre
    z = torch.zeros(1)
    out = warp(x, affine_matrices((29, 29), z, z, z, zoom_x=z + 0.5, zoom_y=z + 0.5))
    assert out[0, 0, 14, 22] == pytest.approx(1.0, abs=1e-5)  # now 8 px right of the centre


def test_fill_modes(mnist: torch.Tensor) -> None:
    x = mnist[:4] + 0.25  # no zero border, so fills are visible
    z = torch.zeros(4)
    right2 = affine_matrices((28, 28), z, z + 2, z)
    nearest = warp(x, right2, "nearest")
    assert torch.allclose(nearest[..., 0], x[..., 0]) and torch.allclose(nearest[..., 1], x[..., 0])
    wrap = warp(x, affine_matrices((28, 28), z, z + 1, z), "wrap")
    assert torch.allclose(wrap, torch.roll(x, 1, dims=3), atol=1e-5)
    reflect = warp(x, right2, "reflect")  # dcba|abcd: column -1 is column 0, column -2 is column 1
    assert torch.allclose(reflect[..., 1], x[..., 0], atol=1e-5)
    assert torch.allclose(reflect[..., 0], x[..., 1], atol=1e-5)
    fill = torch.tensor(-3.0).view(1, 1, 1, 1)
    const = warp(x, right2, "constant", fill)
    assert torch.allclose(const[..., :2], torch.full_like(const[..., :2], -3.0))
    assert torch.allclose(const[..., 2:], x[..., :-2], atol=1e-5)


def test_cval_is_mapped_through_the_normalizer(data_dir: Path) -> None:
    data = prepare_data(DataConfig(dataset="mnist", root=str(data_dir / "mnist"), limit=60), 0)
    norm = data.normalizer  # standardize: raw 0 is (0 - mean) / std
    expected = (0.0 - norm.shift[0]) / norm.scale[0]
    assert float(fill_values(norm, 0.0, 1, torch.device("cpu"))) == pytest.approx(expected)
    aug = AugmentPipeline(AugmentConfig(width_shift_range=5, fill_mode="constant", cval=0), norm)
    x = data.splits["train"].x[:16]
    out, _ = aug(x, data.splits["train"].y[:16], torch.Generator().manual_seed(1))
    assert float(out.min()) >= expected - 1e-4  # MNIST's background and the fill are the same raw 0


def test_parameters_differ_between_images_of_one_batch(mnist: torch.Tensor) -> None:
    batch = mnist[:1].repeat(16, 1, 1, 1)
    cfg = AugmentConfig(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1)
    out, _ = AugmentPipeline(cfg)(batch, torch.zeros(16, dtype=torch.long), torch.Generator().manual_seed(0))
    flat = out.flatten(1)
    dist = torch.cdist(flat, flat) + torch.eye(16) * 1e9
    assert float(dist.min()) > 1e-2  # no two images got the same transform


def test_same_seed_same_batch_and_another_seed_another(mnist: torch.Tensor) -> None:
    cfg = AugmentConfig(
        rotation_range=15,
        width_shift_range=0.1,
        shear_range=10,
        horizontal_flip=True,
        elastic={"alpha": 8, "sigma": 3},
        gaussian_noise={"std": 0.1, "p": 0.5},
        gaussian_blur={"sigma": [0.5, 1.0]},
        cutout={"size": 0.3},
        invert={"p": 0.3},
        brightness_range=(0.8, 1.2),
        channel_shift_range=20,
        random_crop={"padding": 2},
        mixup={"alpha": 0.4, "p": 0.5},
        cutmix={"alpha": 1.0, "p": 0.5},
        fill_mode="reflect",
    )
    y = torch.arange(len(mnist)) % 10
    aug = AugmentPipeline(cfg, num_classes=10)
    a = aug(mnist, y, torch.Generator().manual_seed(7))
    b = aug(mnist, y, torch.Generator().manual_seed(7))
    c = aug(mnist, y, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[1].shape == (len(mnist), 10) and torch.allclose(a[1].sum(1), torch.ones(len(mnist)))


def test_invert_twice_and_horizontal_flip_choices(mnist: torch.Tensor) -> None:
    y = torch.zeros(len(mnist), dtype=torch.long)
    inv = AugmentPipeline(AugmentConfig(invert={"p": 1.0}))
    once, _ = inv(mnist, y, torch.Generator().manual_seed(0))
    assert torch.allclose(once, 1 - mnist, atol=1e-6)
    flip = AugmentPipeline(AugmentConfig(horizontal_flip=True))
    out, _ = flip(mnist, y, torch.Generator().manual_seed(0))
    same = (out - mnist).abs().flatten(1).amax(1) < 1e-5
    flipped = (out - mnist.flip(3)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | flipped).all()) and 0 < int(flipped.sum()) < len(mnist)


def test_mixup_and_cutmix_targets_match_the_mix() -> None:
    n = 32
    x = torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    y = torch.arange(n)  # image i is the constant i + 1 and has class i: the share of i is visible
    cut = AugmentPipeline(AugmentConfig(cutmix={"alpha": 1.0, "p": 1.0}), num_classes=n)
    xc, soft = cut(x, y, torch.Generator().manual_seed(3))
    own = (xc == x).float().mean((1, 2, 3))  # the part of each image that was kept
    assert torch.allclose(soft[y, y], own, atol=1e-6)
    assert torch.allclose(soft.sum(1), torch.ones(n)) and float(own.min()) < 0.9
    mix = AugmentPipeline(AugmentConfig(mixup={"alpha": 0.4, "p": 1.0}), num_classes=n)
    xm, sm = mix(x, y, torch.Generator().manual_seed(3))
    # x' = λ x_i + (1 - λ) x_j is constant; with λ = soft[i, i] and j the other class it is exact.
    other = torch.where(sm[y, y] < 1 - 1e-6, (sm - torch.eye(n) * sm[y, y].view(n, 1)).argmax(1), y)
    lam = sm[y, y]
    assert torch.allclose(xm[:, 0, 0, 0], lam * (y + 1) + (1 - lam) * (other + 1), atol=1e-4)
    assert torch.allclose(sm.sum(1), torch.ones(n))
