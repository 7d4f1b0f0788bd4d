"""Datasets, splits, normalization and device-resident batching.

Example:
    >>> import torch
    >>> from knobwise.config import DataConfig
    >>> from knobwise.data import prepare_data, epoch_batches
    >>> data = prepare_data(DataConfig(dataset="digits", limit=200), seed=0)
    >>> train = data.splits["train"]
    >>> g = torch.Generator().manual_seed(0)
    >>> sum(len(b) for b in epoch_batches(len(train), 32, g))  == len(train)
    True
"""

# Importing the source modules registers them in SOURCES.
from knobwise.data import _arrays, _cifar10, _digits, _folder, _mnist, _tabular_sources  # noqa: F401

# The data knobs (issue 3): augmentation, expansion, balance, weights, multi-source, TTA.
from knobwise.data._augment import AugmentPipeline, affine_matrices, fill_values, warp
from knobwise.data._balance import ClassSampler, balanced_weights
from knobwise.data._batches import epoch_batches, num_batches
from knobwise.data._cache import cache_dir, extract_tar
from knobwise.data._cifar10 import safe_unpickle
from knobwise.data._expand import expand_split, shift_copies
from knobwise.data._folder import IMAGE_SUFFIXES, decode_image
from knobwise.data._keras_preprocess import KERAS_EPS
from knobwise.data._leakage import LeakageReport, find_leakage
from knobwise.data._mix import mix_batch, sample_beta
from knobwise.data._mnist import MNIST_FILES, read_idx
from knobwise.data._normalize import NORMALIZE_MODES, Normalizer
from knobwise.data._prepare import prepare_data
from knobwise.data._prepared import PreparedData, SplitData
from knobwise.data._source import SOURCES, Source, default_root, list_sources, load_source, register_source
from knobwise.data._sources_multi import load_sources
from knobwise.data._split import (
    LIMIT_SEED,
    SplitPlan,
    class_counts,
    imbalance_line,
    plan_splits,
    stratified_subset,
)
from knobwise.data._tabular import TabularEncoder, tabular_inputs
from knobwise.data._tabular_read import read_table
from knobwise.data._tabular_sources import TABULAR_DATASETS
from knobwise.data._training_knobs import TrainingKnobs, training_knobs
from knobwise.data._tta import predict_tta, tta_views

__all__ = [
    "KERAS_EPS",
    "AugmentPipeline",
    "ClassSampler",
    "TABULAR_DATASETS",
    "TabularEncoder",
    "TrainingKnobs",
    "read_table",
    "tabular_inputs",
    "affine_matrices",
    "balanced_weights",
    "decode_image",
    "expand_split",
    "fill_values",
    "find_leakage",
    "imbalance_line",
    "LeakageReport",
    "load_sources",
    "mix_batch",
    "predict_tta",
    "sample_beta",
    "shift_copies",
    "training_knobs",
    "tta_views",
    "warp",
    "IMAGE_SUFFIXES",
    "LIMIT_SEED",
    "MNIST_FILES",
    "NORMALIZE_MODES",
    "SOURCES",
    "Normalizer",
    "PreparedData",
    "Source",
    "SplitData",
    "SplitPlan",
    "cache_dir",
    "class_counts",
    "default_root",
    "epoch_batches",
    "extract_tar",
    "list_sources",
    "load_source",
    "num_batches",
    "plan_splits",
    "prepare_data",
    "read_idx",
    "register_source",
    "safe_unpickle",
    "stratified_subset",
]
