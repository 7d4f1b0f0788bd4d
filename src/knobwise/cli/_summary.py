"""``knobwise summary CONFIG|MODEL|RUN``: each layer's output shape and parameters, totals, size, depth.

The positional is a YAML config (``*.yaml``/``*.yml``), a run directory (holding ``model.json``) or a
zoo model name. The input shape comes from ``--input``, else from the run, the config's dataset or
the zoo model's natural input.

Example:
    >>> from knobwise.cli import main
    >>> main(["summary", "lenet5", "--json"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from knobwise.cli._common import print_json
from knobwise.config import ModelConfig, load_config
from knobwise.data import TABULAR_DATASETS, prepare_data
from knobwise.errors import ConfigError, RunError
from knobwise.models import (
    build_from_layers,
    build_model,
    default_input_shape,
    default_num_classes,
    summarize,
)
from knobwise.models._layers import check_input_shape

#: Input shapes of the built-in datasets, (C, H, W).
DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="CONFIG|MODEL", help="a YAML config, a zoo model name or a run directory"
    )
    parser.add_argument(
        "--input",
        metavar="CxHxW",
        help="input shape, e.g. 1x28x28 (default: the config's data, the run's, or the zoo model's own)",
    )
    parser.add_argument(
        "--classes",
        type=int,
        default=None,
        metavar="K",
        help="number of classes (default: 10; 1000 for the ImageNet zoo nets)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def parse_input(text: str) -> tuple[int, int, int]:
    """``"1x28x28"`` -> ``(1, 28, 28)``; anything else is a :class:`ConfigError`.

    >>> parse_input("3x32x32")
    (3, 32, 32)
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or any(int(g) < 1 for g in match.groups()):
        raise ConfigError(f"--input must look like 1x28x28, got {text!r}")
    c, h, w = (int(g) for g in match.groups())
    return c, h, w


#: The input columns of a tabular model (attribute names, ``name=category`` for one-hot columns).
Inputs = list[str] | None


def _from_run(run_dir: Path, shape: tuple[int, int, int] | None) -> tuple[Any, tuple[int, int, int], Inputs]:
    path = run_dir / "model.json"
    if not path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no model.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        layers, saved = meta["layers"], check_input_shape(meta["input_shape"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: unreadable model description ({exc})") from None
    shape = shape or saved
    tab = (meta.get("data") or {}).get("tabular") or {}
    with torch.device("meta"):  # shapes and counts need no values: VGG-16 summarizes instantly
        return build_from_layers(layers, shape), shape, tab.get("features")


def _from_config(
    path: str, shape: tuple[int, int, int] | None, classes: int
) -> tuple[Any, tuple[int, int, int], Inputs]:
    cfg = load_config(path)
    if shape is None and cfg.data.dataset in TABULAR_DATASETS:
        # a table's inputs and classes come from its columns
        data = prepare_data(cfg.data, seed=cfg.seed)
        features = data.tabular.features if data.tabular is not None else None
        with torch.device("meta"):
            return build_model(cfg.model, data.input_shape, data.num_classes), data.input_shape, features
    if shape is None:
        shape = DATASET_SHAPES.get(cfg.data.dataset)
    if shape is None:
        raise ConfigError(
            f"{path}: the input shape of dataset {cfg.data.dataset!r} is not known here; give --input CxHxW"
        )
    with torch.device("meta"):
        return build_model(cfg.model, shape, classes), shape, None


def _from_zoo(
    name: str, shape: tuple[int, int, int] | None, classes: int
) -> tuple[Any, tuple[int, int, int], Inputs]:
    shape = shape or default_input_shape(name)
    if shape is None:
        raise ConfigError(f"model {name!r} declares no natural input shape; give --input CxHxW")
    with torch.device("meta"):
        return build_model(ModelConfig(name=name), shape, classes), shape, None


def run(args: argparse.Namespace) -> int:
    shape = parse_input(args.input) if args.input is not None else None
    if args.classes is not None and args.classes < 1:
        raise ConfigError(f"--classes must be >= 1, got {args.classes}")
    classes = 10 if args.classes is None else args.classes
    target: str = args.target
    if target.endswith((".yaml", ".yml")):
        model, shape, inputs = _from_config(target, shape, classes)
    elif Path(target).is_dir():
        model, shape, inputs = _from_run(Path(target), shape)
    else:
        if args.classes is None:  # the ImageNet nets default to their 1000 classes
            classes = default_num_classes(target) or classes
        model, shape, inputs = _from_zoo(target, shape, classes)
    summary = summarize(model, shape)
    if args.json:
        print_json({**summary.to_dict(), **({"inputs": inputs} if inputs else {})})
        return 0
    if inputs:  # a tabular model's input layer: the attribute columns it reads
        title = f"{target}  (input: {len(inputs)} attribute columns)"
        Console().print(f"inputs ({len(inputs)}): " + ", ".join(inputs), highlight=False)
    else:
        title = f"{target}  (input {'x'.join(str(s) for s in shape)})"
    Console().print(summary.render(title=title))
    return 0
