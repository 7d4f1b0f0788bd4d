"""Config sections for the data knobs: ``data.augment``, ``data.expand``, ``data.balance``,
``data.sample_weight``, ``data.sources`` / ``data.split.by_source`` and ``evaluate.tta``.

The augmentation keys keep the Keras ``ImageDataGenerator`` vocabulary and meaning, so a classic
recipe can be pasted as it is: ``rotation_range`` in degrees, ``width_shift_range`` a fraction of
the width (or pixels when it is a whole number >= 1), ``zoom_range`` ``z`` meaning ``[1 - z, 1 + z]``
(values below 1 zoom in, as in Keras), ``cval`` and ``channel_shift_range`` in the dataset's raw
pixel units (0-255 for 8-bit images). The knobs beyond Keras each carry a probability ``p``.

Example:
    >>> AugmentConfig(rotation_range=5, zoom_range=0.2, width_shift_range=0.15).zoom_bounds
    (0.8, 1.2)
    >>> AugmentConfig(rotation_range=200)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for AugmentConfig
    ...
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from knobwise.config._base import Section

__all__ = [
    "AugmentConfig",
    "BalanceConfig",
    "CropConfig",
    "CutoutConfig",
    "ElasticConfig",
    "ExpandConfig",
    "MixConfig",
    "NoiseConfig",
    "BlurConfig",
    "ProbConfig",
    "SampleWeightConfig",
    "SourceConfig",
    "TTAConfig",
    "FILL_MODES",
]

FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _shift_ok(value: float, key: str) -> float:
    if value < 0:
        raise ValueError(f"data.augment.{key} must be >= 0, got {value:g}")
    if value >= 1 and float(value) != int(value):
        raise ValueError(
            f"data.augment.{key} must be a fraction in [0, 1) or a whole number of pixels, got {value:g}"
        )
    return value


class ProbConfig(Section):
    """A knob that is applied to each image with probability ``p``."""

    p: float = Field(0.5, ge=0.0, le=1.0)


class CropConfig(Section):
    """The CIFAR recipe: pad ``padding`` pixels on every side, crop the original size at a random
    offset (an integer shift in ``[-padding, padding]``; the pad is filled as ``fill_mode`` says)."""

    padding: int = Field(4, ge=0)
    p: float = Field(1.0, ge=0.0, le=1.0)


class CutoutConfig(Section):
    """Cutout / random erasing: ``count`` squares of side ``size`` × the shorter side, centred
    anywhere in the image (so they may be clipped by the border), filled with ``value`` (a fraction
    of the pixel range: 0 is black)."""

    size: float = Field(0.5, gt=0.0, le=1.0)
    count: int = Field(1, ge=1, le=16)
    value: float = 0.0
    p: float = Field(0.5, ge=0.0, le=1.0)


class NoiseConfig(Section):
    """Additive Gaussian noise; ``std`` as a fraction of the pixel range."""

    std: float = Field(0.05, gt=0.0, le=1.0)
    p: float = Field(1.0, ge=0.0, le=1.0)


class BlurConfig(Section):
    """Gaussian blur with ``sigma`` (pixels) drawn per image from ``[low, high]``."""

    sigma: tuple[float, float] = (0.1, 1.0)
    p: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("sigma", mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _check(self) -> BlurConfig:
        lo, hi = self.sigma
        if not 0 < lo <= hi <= 20:
            raise ValueError(
                f"data.augment.gaussian_blur.sigma must satisfy 0 < low <= high <= 20, got {[lo, hi]}"
            )
        return self


class ElasticConfig(Section):
    """Simard et al.'s elastic distortion: a random displacement field, smoothed by a Gaussian of
    ``sigma`` pixels, scaled by ``alpha`` pixels (34 and 4 for 28×28 digits)."""

    alpha: float = Field(34.0, ge=0.0, le=1000.0)
    sigma: float = Field(4.0, gt=0.0, le=50.0)
    p: float = Field(1.0, ge=0.0, le=1.0)


class MixConfig(Section):
    """MixUp or CutMix: the mixing weight λ ~ Beta(alpha, alpha); soft targets."""

    alpha: float = Field(1.0, gt=0.0, le=100.0)
    p: float = Field(1.0, ge=0.0, le=1.0)


class AugmentConfig(Section):
    """On-device augmentation of the training split (Keras ``ImageDataGenerator`` vocabulary)."""

    rotation_range: float = Field(0.0, description="degrees; a uniform angle in [-r, r]")
    width_shift_range: float = Field(0.0, description="fraction of the width, or pixels when >= 1")
    height_shift_range: float = Field(0.0, description="fraction of the height, or pixels when >= 1")
    shear_range: float = Field(0.0, description="degrees; a uniform shear angle in [-s, s]")
    zoom_range: float | tuple[float, float] = Field(0.0, description="z: [1 - z, 1 + z], or [low, high]")
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness_range: tuple[float, float] | None = Field(None, description="pixel-value factor [low, high]")
    channel_shift_range: float = Field(0.0, ge=0.0, description="raw pixel units, as Keras")
    fill_mode: Literal["nearest", "constant", "reflect", "wrap"] = "nearest"
    cval: float = Field(0.0, description="fill value for fill_mode constant, raw pixel units")
    random_crop: CropConfig | None = None
    cutout: CutoutConfig | None = None
    invert: ProbConfig | None = None
    gaussian_noise: NoiseConfig | None = None
    gaussian_blur: BlurConfig | None = None
    elastic: ElasticConfig | None = None
    mixup: MixConfig | None = None
    cutmix: MixConfig | None = None

    @field_validator("rotation_range")
    @classmethod
    def _rotation(cls, v: float) -> float:
        if not 0 <= v <= 180:
            raise ValueError(f"data.augment.rotation_range must be in [0, 180] degrees, got {v:g}")
        return v

    @field_validator("shear_range")
    @classmethod
    def _shear(cls, v: float) -> float:
        if not 0 <= v < 90:
            raise ValueError(f"data.augment.shear_range must be in [0, 90) degrees, got {v:g}")
        return v

    @field_validator("width_shift_range")
    @classmethod
    def _width(cls, v: float) -> float:
        return _shift_ok(v, "width_shift_range")

    @field_validator("height_shift_range")
    @classmethod
    def _height(cls, v: float) -> float:
        return _shift_ok(v, "height_shift_range")

    @field_validator("zoom_range")
    @classmethod
    def _zoom(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        if isinstance(v, tuple):
            lo, hi = v
            if not 0 < lo <= hi <= 10:
                raise ValueError(
                    f"data.augment.zoom_range [low, high] must satisfy 0 < low <= high <= 10, got {[lo, hi]}"
                )
        elif not 0 <= v < 1:
            raise ValueError(f"data.augment.zoom_range must be in [0, 1) (or a [low, high] pair), got {v:g}")
        return v

    @field_validator("brightness_range")
    @classmethod
    def _brightness(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0 <= v[0] <= v[1] <= 10:
            raise ValueError(
                f"data.augment.brightness_range must satisfy 0 <= low <= high <= 10, got {list(v)}"
            )
        return v

    @model_validator(mode="after")
    def _mix(self) -> AugmentConfig:
        if self.mixup is not None and self.cutmix is not None and self.mixup.p + self.cutmix.p > 1 + 1e-9:
            raise ValueError(
                "data.augment: with both mixup and cutmix, each image gets at most one, so "
                f"mixup.p + cutmix.p must be <= 1, got {self.mixup.p:g} + {self.cutmix.p:g}"
            )
        return self

    @property
    def zoom_bounds(self) -> tuple[float, float]:
        """The zoom factor interval ``(low, high)``."""
        z = self.zoom_range
        return (float(z[0]), float(z[1])) if isinstance(z, tuple) else (1.0 - z, 1.0 + z)

    @property
    def mixes(self) -> bool:
        """Whether the pipeline makes soft targets (MixUp or CutMix)."""
        return self.mixup is not None or self.cutmix is not None


class ExpandConfig(Section):
    """Offline expansion of the training split, built once on the device.

    ``shifts: s`` adds the 4 copies shifted by ``s`` pixels up, down, left and right (the classic
    1-pixel expansion, 5× the data); ``copies: k`` with ``augment: {...}`` adds ``k`` augmented copies.
    """

    shifts: int | None = Field(None, ge=1, le=8)
    copies: int | None = Field(None, ge=1, le=100)
    augment: AugmentConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> ExpandConfig:
        if self.shifts is None and self.copies is None:
            raise ValueError("data.expand needs shifts (pixels) or copies (with augment)")
        if self.copies is not None and self.augment is None:
            raise ValueError("data.expand.copies needs data.expand.augment (how each copy is made)")
        if self.augment is not None and self.augment.mixes:
            raise ValueError("data.expand.augment: mixup/cutmix make soft targets; use them in data.augment")
        return self


class BalanceConfig(Section):
    """How class imbalance in the training split is corrected (``data.balance: oversample`` is
    short for ``{method: oversample}``). ``augment_minority`` adds augmented copies of the smaller
    classes until every class matches the largest, built once; ``augment`` says how (default:
    ``data.augment``, else small shifts, rotations and zooms)."""

    method: Literal["oversample", "undersample", "class_weight", "augment_minority"]
    augment: AugmentConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"method": v} if isinstance(v, str) else v


class SampleWeightConfig(Section):
    """Per-example weights in the cost, J = Σ sᵢ·Lᵢ / Σ sᵢ: a ``column`` of a CSV ``file`` whose rows
    name examples by ``id`` (or ``index`` into the pool), or an ``array`` of the ``arrays`` dataset's
    npz (one weight per pool example). Examples a CSV does not list weigh ``default``."""

    file: str | None = None
    column: str = "weight"
    array: str | None = None
    default: float = Field(1.0, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"file": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one(self) -> SampleWeightConfig:
        if (self.file is None) == (self.array is None):
            raise ValueError("data.sample_weight needs exactly one of file (a CSV) or array (an npz key)")
        return self


class SourceConfig(Section):
    """One source of a multi-source dataset; every example keeps ``name`` as its source tag."""

    name: str = Field(min_length=1)
    dataset: str
    root: str | None = None
    download: bool = False
    limit: int | None = Field(None, ge=1)
    test_limit: int | None = Field(None, ge=1)
    image_size: tuple[int, int] | None = None
    grayscale: bool | None = None


class TTAConfig(Section):
    """Test-time augmentation: the model sees each evaluated image as several views (the image,
    its flips, its ``shifts``-pixel shifts in 4 directions) and the probabilities are averaged."""

    flips: bool | Literal["horizontal", "vertical", "both"] = False
    shifts: int = Field(0, ge=0, le=8)
    fill_mode: Literal["nearest", "constant", "reflect", "wrap"] = "nearest"

    @model_validator(mode="after")
    def _some(self) -> TTAConfig:
        if not self.flips and not self.shifts:
            raise ValueError("evaluate.tta needs flips and/or shifts (or leave it unset)")
        return self
