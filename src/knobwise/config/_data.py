"""The ``data:`` section: which dataset, how it is split and normalized."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from knobwise.config._augment import (
    AugmentConfig,
    BalanceConfig,
    ExpandConfig,
    SampleWeightConfig,
    SourceConfig,
)
from knobwise.config._base import Section
from knobwise.config._tabular import AttributesConfig
from knobwise.registry import closest


class SplitConfig(Section):
    """How examples are divided into train / dev / test (and optionally train-dev).

    Fractions of the pooled examples; they must sum to 1. When the dataset has its own test set
    and ``own_test`` is true, the test split is that set and ``train``/``dev`` divide the rest in
    proportion (``test`` is then ignored). ``train_dev`` is the fraction of *train* carved out as a
    train-dev split (same distribution as train, never trained on). ``ordered`` cuts each split
    off the end of the dataset's own order instead of drawing it at random.
    """

    train: float = Field(0.8, ge=0.0, le=1.0)
    dev: float = Field(0.1, ge=0.0, le=1.0)
    test: float = Field(0.1, ge=0.0, le=1.0)
    train_dev: float = Field(0.0, ge=0.0, lt=1.0)
    stratify: bool = True
    ordered: bool = Field(
        False,
        description="cut in the dataset's own order, not at random: test is the last examples, dev "
        "the ones before it (MNIST's first 50,000 / last 10,000, the split of the reference results)",
    )
    own_test: bool = True
    by_source: dict[Literal["train", "dev", "test"], list[str]] | None = Field(
        None, description="multi-source data: the sources that make each split, e.g. {train: [hq], dev: [lq]}"
    )

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitConfig:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"data.split fractions train + dev + test must sum to 1, got "
                f"{self.train:g} + {self.dev:g} + {self.test:g} = {total:g}"
            )
        if self.train <= 0:
            raise ValueError(f"data.split.train must be > 0, got {self.train:g}")
        return self


#: The datasets whose examples are records of attributes, not images (their sources are in
#: ``knobwise.data``); image-only knobs such as ``evaluate.tta`` are refused for them.
TABULAR_DATASETS = ("csv", "parquet", "breast_cancer", "wine")


class DataConfig(Section):
    """Dataset source, subset, split and normalization."""

    dataset: str = "digits"
    root: str | None = None
    download: bool = False
    limit: int | None = Field(None, ge=1, description="stratified subset of the training pool")
    test_limit: int | None = Field(None, ge=1, description="stratified subset of the own test set")
    image_size: tuple[int, int] | None = Field(None, description="resize images (H, W); folder only")
    grayscale: bool | None = Field(None, description="folder only: force 1 channel (true) or 3")
    classes: list[str] | None = Field(
        None, min_length=2, description="folder only: use just these class folders (a task of its own)"
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    normalize: Literal["standardize", "minmax", "none"] = "standardize"
    featurewise_center: bool = Field(False, description="Keras: minus the training split's channel mean")
    featurewise_std_normalization: bool = Field(False, description="Keras: divided by its channel std")
    samplewise_center: bool = Field(False, description="Keras: each image minus its own mean")
    samplewise_std_normalization: bool = Field(False, description="Keras: each image divided by its std")
    zca_whitening: bool = Field(False, description="Keras: ZCA whitening fitted on the training split")
    zca_epsilon: float = Field(1e-6, gt=0.0, description="Keras: added to the eigenvalues before 1/sqrt")
    exclude: str | None = Field(None, description="CSV of examples to drop (columns id or index)")
    relabel: str | None = Field(None, description="CSV of corrected labels (id or index, and label)")
    relabel_to: Literal["auto", "label", "suggested", "cluster_majority"] = Field(
        "auto",
        description="the column data.relabel takes the new class from: auto = 'suggested' when the "
        "file has one (knobwise errors --label-issues), else 'label'; cluster_majority = the "
        "majority label of the example's k-means cluster (--label-issues --clusters K)",
    )
    augment: AugmentConfig | None = Field(None, description="on-device augmentation of the training split")
    expand: ExpandConfig | None = Field(None, description="offline expansion of the training split")
    balance: BalanceConfig | None = Field(
        None, description="oversample | undersample | class_weight | augment_minority"
    )
    sample_weight: SampleWeightConfig | None = Field(None, description="per-example weights in the cost")
    sources: list[SourceConfig] | None = Field(None, description="a dataset made of several tagged sources")
    target: str | None = Field(None, description="tabular data: the column holding the class")
    attributes: AttributesConfig | None = Field(
        None, description="tabular data: exclude, weights, categorical (see the README, Tabular data)"
    )
    missing: Literal["error", "impute"] = Field(
        "error", description="tabular data: missing values are an error, or imputed with train statistics"
    )

    @model_validator(mode="after")
    def _check_preprocess(self) -> DataConfig:
        per_image = [
            k
            for k in ("samplewise_center", "samplewise_std_normalization", "zca_whitening")
            if getattr(self, k)
        ]
        if per_image and (self.augment is not None or self.expand is not None):
            raise ValueError(
                f"data.{per_image[0]} cannot be combined with data.augment or data.expand yet (the "
                "augmentation works on per-channel normalized images); use featurewise_center / "
                "featurewise_std_normalization, or drop the augmentation"
            )
        return self

    @model_validator(mode="after")
    def _check_sources(self) -> DataConfig:
        names = [s.name for s in self.sources or []]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"data.sources: the name {dup[0]!r} is used twice; source names must be unique")
        by = self.split.by_source
        if by is None:
            return self
        if not names:
            raise ValueError("data.split.by_source needs data.sources (named sources to place)")
        for split, listed in by.items():
            for name in listed:
                if name not in names:
                    near = closest(name, names)
                    hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
                    raise ValueError(
                        f"data.split.by_source.{split}: unknown source {name!r}{hint} "
                        f"(sources: {', '.join(names)})"
                    )
        if not by.get("train"):
            raise ValueError("data.split.by_source must name the sources of train")
        return self
