"""On-device batch augmentation: every geometric knob composed into ONE affine matrix per image,
elastic displacement added to the same sampling grid, and ONE warp (``grid_sample``).

The pipeline works on the *normalized* tensors the data layer keeps on the device, so no raw copy
of the dataset is needed and the normalization fitted on the clean training split is kept:
bilinear interpolation commutes with the per-channel affine normalization (its weights sum to 1),
so a warp in normalized space equals a warp of the raw pixels followed by normalization; fill
values (``cval``, cutout's ``value``) are mapped through the normalizer. Photometric knobs that
are not affine in the pixel values (brightness with clipping, channel shift, invert, noise) run
on ``u = x * scale + shift``, the pixels brought to ``[0, 1]``, and are mapped back.

Random parameters are drawn per image from the ``torch.Generator`` passed in (on the data's
device): the same generator state gives the same augmented batch.

Example:
    >>> import torch
    >>> from knobwise.config import AugmentConfig
    >>> aug = AugmentPipeline(AugmentConfig(rotation_range=10, width_shift_range=0.1), num_classes=10)
    >>> x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
    >>> xa, ya = aug(x, y, torch.Generator().manual_seed(0))
    >>> xa.shape, bool((ya == y).all())
    (torch.Size([8, 1, 28, 28]), True)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from knobwise.config import AugmentConfig
from knobwise.data._mix import mix_batch
from knobwise.data._normalize import Normalizer

__all__ = ["AugmentPipeline", "affine_matrices", "warp", "fill_values"]


def affine_matrices(
    size: tuple[int, int],
    angle: torch.Tensor,
    tx: torch.Tensor,
    ty: torch.Tensor,
    zoom_x: torch.Tensor | None = None,
    zoom_y: torch.Tensor | None = None,
    shear: torch.Tensor | None = None,
    flip_h: torch.Tensor | None = None,
    flip_v: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-image *sampling* matrices ``(N, 2, 3)``: output pixel ``(x, y)`` reads source pixel
    ``M @ (x, y, 1)`` (pixel centres at integers, origin top-left).

    The content is flipped, sheared by ``shear`` degrees, zoomed (Keras meaning: a factor below 1
    enlarges), rotated by ``angle`` degrees counter-clockwise as displayed, then moved by
    ``(tx, ty)`` pixels (right, down). Composed with kornia's ``get_affine_matrix2d``.

    >>> z = torch.zeros(1)
    >>> (affine_matrices((5, 5), z, z + 2, z) + 0.0).tolist()  # content moves 2 pixels right
    [[[1.0, 0.0, -2.0], [0.0, 1.0, 0.0]]]
    """
    h, w = size
    n = angle.shape[0]
    dev, dt = angle.device, torch.float32
    one = torch.ones(n, device=dev, dtype=dt)
    zx = one if zoom_x is None else zoom_x.to(dt)
    zy = one if zoom_y is None else zoom_y.to(dt)
    # Filled on the device: torch.tensor(..., device=cuda) would copy from the host and wait.
    center = torch.stack(
        [torch.full((n,), (w - 1) / 2.0, device=dev), torch.full((n,), (h - 1) / 2.0, device=dev)], 1
    )
    shear_rad = None if shear is None else torch.deg2rad(shear.to(dt))
    # kornia's positive angle turns clockwise as displayed; its scale enlarges, Keras's zoom shrinks.
    # lazy: kornia costs a few hundred ms to import; only runs that augment need it
    from kornia.geometry.transform import get_affine_matrix2d

    fwd = get_affine_matrix2d(
        torch.stack([tx, ty], 1).to(dt),
        center,
        torch.stack([1.0 / zx, 1.0 / zy], 1),
        -angle.to(dt),
        sx=shear_rad,
    )
    if flip_h is not None or flip_v is not None:
        flip = torch.eye(3, device=dev, dtype=dt).repeat(n, 1, 1)
        if flip_h is not None:
            fh = flip_h.to(dt)
            flip[:, 0, 0] = 1 - 2 * fh
            flip[:, 0, 2] = fh * (w - 1)
        if flip_v is not None:
            fv = flip_v.to(dt)
            flip[:, 1, 1] = 1 - 2 * fv
            flip[:, 1, 2] = fv * (h - 1)
        fwd = fwd @ flip
    return _invert_affine(fwd)


def _invert_affine(m: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of affine ``(N, 3, 3)`` matrices as ``(N, 2, 3)`` (no linalg call, so no
    host synchronization for its error check on CUDA)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    row0 = torch.stack([e, -b, b * f - c * e], 1)
    row1 = torch.stack([-d, a, c * d - a * f], 1)
    return torch.stack([row0, row1], 1) / det.view(-1, 1, 1)


def fill_values(
    normalizer: Normalizer | None, raw: float, channels: int, device: torch.device
) -> torch.Tensor:
    """The normalized value ``(1, C, 1, 1)`` of a raw pixel value (``cval`` in raw pixel units)."""
    if normalizer is None:
        return torch.full((1, channels, 1, 1), float(raw), device=device)
    shift = torch.tensor(normalizer.shift, device=device).view(1, -1, 1, 1)
    scale = torch.tensor(normalizer.scale, device=device).view(1, -1, 1, 1)
    return (raw / normalizer.pixel_max - shift) / scale


def warp(
    x: torch.Tensor,
    matrices: torch.Tensor,
    fill_mode: str = "nearest",
    fill: torch.Tensor | None = None,
    displacement: torch.Tensor | None = None,
) -> torch.Tensor:
    """One bilinear warp of ``x`` ``(N, C, H, W)`` with sampling ``matrices`` ``(N, 2, 3)`` (see
    :func:`affine_matrices`) plus an optional ``displacement`` ``(N, 2, H, W)`` in pixels.

    ``fill_mode`` has Keras's (scipy's) meaning outside the image: ``nearest`` repeats the edge,
    ``constant`` uses ``fill`` (normalized, per channel), ``reflect`` mirrors about the edge
    (``dcba|abcd|dcba``), ``wrap`` tiles (``abcd|abcd``).

    >>> x = torch.arange(9.0).view(1, 1, 3, 3)
    >>> warp(x, torch.tensor([[[1.0, 0, 0], [0, 1, 0]]])).equal(x)
    True
    """
    n, c, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w)
    m = matrices.to(torch.float32)
    sx = m[:, 0, 0, None, None] * xs + m[:, 0, 1, None, None] * ys + m[:, 0, 2, None, None]
    sy = m[:, 1, 0, None, None] * xs + m[:, 1, 1, None, None] * ys + m[:, 1, 2, None, None]
    if displacement is not None:
        sx = sx + displacement[:, 0]
        sy = sy + displacement[:, 1]
    src, pad_mode = x, "border"
    if fill_mode == "reflect":  # half-sample symmetric: fold into [-0.5, size - 0.5], then clamp
        sx, sy = _fold(sx, w), _fold(sy, h)
    elif fill_mode == "wrap":  # tile; one wrapped pixel of padding makes the bilinear neighbours right
        src = F.pad(x, (1, 1, 1, 1), mode="circular")
        sx, sy = torch.remainder(sx, w) + 1, torch.remainder(sy, h) + 1
        h, w = h + 2, w + 2
    elif fill_mode == "constant":
        pad_mode = "zeros"
        if fill is not None:  # sample(x - c) + c: out-of-image taps read c, with one grid_sample
            src = x - fill
    gx = sx * (2.0 / max(w - 1, 1)) - 1.0
    gy = sy * (2.0 / max(h - 1, 1)) - 1.0
    out = F.grid_sample(src, torch.stack([gx, gy], -1), "bilinear", pad_mode, align_corners=True)
    if fill_mode == "constant" and fill is not None:
        out = out + fill
    return out


def _gauss_band(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """``(size, size)`` matrix of kornia's 1-d Gaussian kernel: ``band @ v`` smooths ``v`` along its
    first axis with zeros beyond the ends (``filter2d_separable(..., border_type="constant")``)."""
    r = min(math.ceil(3 * sigma), size)
    # lazy: kornia, as in affine_matrices
    from kornia.filters import get_gaussian_kernel1d

    kern = get_gaussian_kernel1d(2 * r + 1, sigma, device=device, dtype=torch.float32).view(-1)
    i = torch.arange(size, device=device)
    off = i.view(1, -1) - i.view(-1, 1) + r  # tap of column j for row i
    valid = (off >= 0) & (off <= 2 * r)
    return torch.where(valid, kern[off.clamp(0, 2 * r)], torch.zeros((), device=device))


def _fold(v: torch.Tensor, size: int) -> torch.Tensor:
    t = torch.remainder(v + 0.5, 2 * size)
    return torch.where(t < size, t - 0.5, 2 * size - t - 0.5)


def _between(u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * u


def _shift(u: torch.Tensor, spec: float, size: int) -> torch.Tensor:
    """Keras shift: a fraction of ``size`` when < 1, else whole pixels drawn from {-n, ..., n}."""
    if spec < 1:
        return _between(u, -spec, spec) * size
    n = int(spec)
    return torch.floor(u * (2 * n + 1)).clamp_(max=2 * n) - n


def knob_text(key: str, value: Any) -> str:
    """A knob as one short item: ``rotation_range=10``, ``random_crop(padding=4, p=1)``.

    >>> knob_text("random_crop", {"padding": 4, "p": 1.0}), knob_text("zoom_range", [0.9, 1.1])
    ('random_crop(padding=4, p=1.0)', 'zoom_range=[0.9, 1.1]')
    """
    if isinstance(value, dict):
        return f"{key}(" + ", ".join(f"{k}={v}" for k, v in value.items()) + ")"
    return f"{key}={value}"


class AugmentPipeline:
    """``pipeline(x, y, generator) -> (x, y)`` for normalized ``(N, C, H, W)`` batches on any device.

    With MixUp or CutMix the returned ``y`` is a soft target ``(N, K)``; otherwise it is ``y``.
    """

    def __init__(
        self, cfg: AugmentConfig, normalizer: Normalizer | None = None, num_classes: int | None = None
    ) -> None:
        if cfg.mixes and not num_classes:
            raise ValueError("mixup/cutmix need num_classes")
        self.cfg = cfg
        self.normalizer = normalizer
        self.num_classes = num_classes
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._smooth: dict[tuple[str, int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.geometric = bool(
            cfg.rotation_range
            or cfg.width_shift_range
            or cfg.height_shift_range
            or cfg.shear_range
            or cfg.zoom_bounds != (1.0, 1.0)
            or cfg.horizontal_flip
            or cfg.vertical_flip
            or (cfg.random_crop and cfg.random_crop.padding)
            or (cfg.elastic and cfg.elastic.alpha)
        )
        self.photometric = bool(
            cfg.brightness_range
            or cfg.channel_shift_range
            or cfg.invert
            or cfg.gaussian_noise
            or cfg.gaussian_blur
            or cfg.cutout
        )

    def describe(self) -> str:
        """One line naming the knobs in use (logged at the start of a run)."""
        # The keys set in the config, each with its whole value: a knob given as `{}` or with
        # only some fields still shows its settings (`random_crop(padding=4, p=1.0)`).
        full = self.cfg.model_dump()
        on = {k: full[k] for k in self.cfg.model_dump(exclude_defaults=True)}
        return "augment (train split, on the device): " + (
            ", ".join(knob_text(k, v) for k, v in on.items()) or "none"
        )

    # -- parameters ------------------------------------------------------------------------------
    def _consts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scale, shift, normalized cval), each ``(1, C, 1, 1)``, made once per device: copying
        them from the host every batch would synchronize a CUDA stream in the step loop."""
        key = str(x.device)
        if key not in self._cache:
            c = x.shape[1]
            norm = self.normalizer
            scale = torch.tensor(norm.scale if norm else [1.0] * c, device=x.device).view(1, c, 1, 1)
            shift = torch.tensor(norm.shift if norm else [0.0] * c, device=x.device).view(1, c, 1, 1)
            self._cache[key] = (scale, shift, fill_values(norm, self.cfg.cval, c, x.device))
        return self._cache[key]

    def _pixel_max(self) -> float:
        return self.normalizer.pixel_max if self.normalizer is not None else 1.0

    def _geometry(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        cfg, (n, _, h, w) = self.cfg, x.shape
        u = torch.rand(n, 11, generator=g, device=x.device)
        zero = torch.zeros(n, device=x.device)
        angle = _between(u[:, 0], -cfg.rotation_range, cfg.rotation_range) if cfg.rotation_range else zero
        tx = _shift(u[:, 1], cfg.width_shift_range, w) if cfg.width_shift_range else zero
        ty = _shift(u[:, 2], cfg.height_shift_range, h) if cfg.height_shift_range else zero
        if cfg.random_crop and cfg.random_crop.padding:
            p = cfg.random_crop.padding
            on = (u[:, 9] < cfg.random_crop.p).float()
            tx = tx + on * (torch.floor(u[:, 3] * (2 * p + 1)).clamp_(max=2 * p) - p)
            ty = ty + on * (torch.floor(u[:, 4] * (2 * p + 1)).clamp_(max=2 * p) - p)
        lo, hi = cfg.zoom_bounds
        zx = _between(u[:, 5], lo, hi) if (lo, hi) != (1.0, 1.0) else None
        zy = _between(u[:, 6], lo, hi) if (lo, hi) != (1.0, 1.0) else None
        shear = _between(u[:, 7], -cfg.shear_range, cfg.shear_range) if cfg.shear_range else None
        fh = (u[:, 8] < 0.5) if cfg.horizontal_flip else None
        fv = (u[:, 10] < 0.5) if cfg.vertical_flip else None
        return affine_matrices((h, w), angle, tx, ty, zx, zy, shear, fh, fv)

    def _elastic(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor | None:
        el = self.cfg.elastic
        if el is None or not el.alpha:
            return None
        n, _, h, w = x.shape
        noise = torch.rand(n, 2, h, w, generator=g, device=x.device) * 2 - 1
        key = (str(x.device), h, w)
        if key not in self._smooth:
            self._smooth[key] = (_gauss_band(h, el.sigma, x.device), _gauss_band(w, el.sigma, x.device))
        gh, gw = self._smooth[key]
        # The separable Gaussian (zero border, as kornia's filter2d_separable with border "constant")
        # as two matrix products: much faster than a depthwise convolution with a wide kernel.
        field = gh @ noise @ gw.T * el.alpha
        on = (torch.rand(n, generator=g, device=x.device) < el.p).float().view(n, 1, 1, 1)
        return field * on

    # -- the pipeline ----------------------------------------------------------------------------
    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment one batch (each image its own random parameters)."""
        cfg = self.cfg
        scale, shift, fill = self._consts(x)
        if self.geometric:
            m = self._geometry(x, generator)
            x = warp(x, m, cfg.fill_mode, fill, self._elastic(x, generator))
        if self.photometric:
            x = (self._photometric(x * scale + shift, generator) - shift) / scale
        if cfg.mixes:
            assert self.num_classes is not None
            x, y = mix_batch(x, y, self.num_classes, cfg.mixup, cfg.cutmix, generator)
        return x, y

    def _photometric(self, u: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The non-geometric knobs on pixels in ``[0, 1]`` units."""
        cfg, (n, _, h, w) = self.cfg, u.shape
        r = torch.rand(n, 8, generator=g, device=u.device).view(n, 8, 1, 1)
        if cfg.brightness_range:  # Keras/PIL: scale pixel values, clip to the pixel range
            lo, hi = cfg.brightness_range
            u = (u * _between(r[:, 0:1], lo, hi)).clamp(0.0, 1.0)
        if cfg.channel_shift_range:  # Keras: one offset, clipped to the image's own range
            off = _between(r[:, 1:2], -cfg.channel_shift_range, cfg.channel_shift_range) / self._pixel_max()
            lo_v = u.amin(dim=(1, 2, 3), keepdim=True)
            hi_v = u.amax(dim=(1, 2, 3), keepdim=True)
            u = torch.minimum(torch.maximum(u + off, lo_v), hi_v)
        if cfg.invert:
            u = torch.where(r[:, 2:3] < cfg.invert.p, 1.0 - u, u)
        if cfg.gaussian_blur:
            lo, hi = cfg.gaussian_blur.sigma
            sigma = _between(r[:, 3, 0, 0], lo, hi).unsqueeze(1).expand(n, 2).contiguous()
            k = min(2 * math.ceil(3 * hi) + 1, 2 * ((min(h, w) - 1) // 2) + 1)
            if k >= 3:
                # lazy: kornia, as in affine_matrices
                from kornia.filters import gaussian_blur2d

                u = torch.where(r[:, 4:5] < cfg.gaussian_blur.p, gaussian_blur2d(u, (k, k), sigma), u)
        if cfg.gaussian_noise:
            on = (r[:, 5:6] < cfg.gaussian_noise.p).float()
            u = u + on * cfg.gaussian_noise.std * torch.randn(u.shape, generator=g, device=u.device)
        if cfg.cutout:
            u = self._cutout(u, r[:, 6, 0, 0] < cfg.cutout.p, g)
        return u

    def _cutout(self, u: torch.Tensor, on: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        assert self.cfg.cutout is not None
        cut, (n, _, h, w) = self.cfg.cutout, u.shape
        half = cut.size * min(h, w) / 2.0
        centre = torch.rand(n, cut.count, 2, generator=g, device=u.device)
        cx = (centre[..., 0] * w).view(n, cut.count, 1, 1)
        cy = (centre[..., 1] * h).view(n, cut.count, 1, 1)
        xs = torch.arange(w, device=u.device, dtype=torch.float32).view(1, 1, 1, w) + 0.5
        ys = torch.arange(h, device=u.device, dtype=torch.float32).view(1, 1, h, 1) + 0.5
        box = ((xs - cx).abs() < half) & ((ys - cy).abs() < half)  # (n, count, h, w)
        mask = box.any(1, keepdim=True) & on.view(n, 1, 1, 1)
        return torch.where(mask, torch.full_like(u, cut.value), u)
