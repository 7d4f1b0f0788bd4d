"""The knob registry: for each problem, the knobs that turn it, in the order to try them.

Orthogonalization: every problem has its own knobs. Each knob names the knobwise setting that
turns it (a config key with a value, or a command), so the advice can be acted on directly.
Given the run's config, knobs that are already turned (Adam already in use, early stopping already
on, ...) are left out, so the first knob listed is the next one to try.

Example:
    >>> [k.knob for k in knobs_for("variance")][:2]
    ['more training data', 'data augmentation']
    >>> knobs_for("bias")[0].setting
    'model.name: a bigger zoo model, or more/wider entries in model.layers'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from knobwise.registry import Registry

__all__ = ["Knob", "PROBLEMS", "knobs_for", "list_problems"]


@dataclass(frozen=True)
class Knob:
    """One knob: what it is and the knobwise setting that turns it.

    ``done`` tells, from a run's config (a plain mapping), whether the knob is already turned.
    """

    knob: str
    setting: str
    done: Callable[[dict[str, Any]], bool] | None = None

    def to_dict(self) -> dict[str, str]:
        """``{"knob", "setting"}`` (the JSON form)."""
        return {"knob": self.knob, "setting": self.setting}


#: Problem name → its knobs, in order.
PROBLEMS: Registry[list[Knob]] = Registry("problem", key="diagnose")


def _get(cfg: dict[str, Any], path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _layer_types(cfg: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    for item in _get(cfg, "model.layers") or []:
        if isinstance(item, str):
            types.add(item)
        elif isinstance(item, dict):
            types.update(k for k in item if k != "type")
            if isinstance(item.get("type"), str):
                types.add(item["type"])
    return types


def _uses_adaptive_optimizer(cfg: dict[str, Any]) -> bool:
    return str(_get(cfg, "train.optimizer.name") or "").lower() in {"adam", "adamw", "rmsprop", "nadam"}


#: Zoo nets with residual or branching blocks (the "better architecture" knob is turned).
_LANDMARKS = ("resnet", "resnext", "inception", "xception")


def _uses_landmark_net(cfg: dict[str, Any]) -> bool:
    name = str(_get(cfg, "model.name") or "")
    return name.startswith(_LANDMARKS) or bool({"residual", "parallel", "concat", "add"} & _layer_types(cfg))


def _uses_pretrained(cfg: dict[str, Any]) -> bool:
    return bool(_get(cfg, "model.pretrained"))


def _has_regularization(cfg: dict[str, Any]) -> bool:
    return bool(_get(cfg, "train.optimizer.weight_decay") or _get(cfg, "train.l2"))


PROBLEMS.register("bias")(
    [
        Knob("bigger network", "model.name: a bigger zoo model, or more/wider entries in model.layers"),
        Knob("train longer", "train.epochs: more (and no early stop before the training error levels off)"),
        Knob(
            "better optimizer",
            "train.optimizer.name: adam (or sgd with momentum: 0.9)",
            _uses_adaptive_optimizer,
        ),
        Knob(
            "better initialization",
            "model.init: he_normal (ReLU) or xavier_uniform (tanh/sigmoid)",
            lambda c: bool(_get(c, "model.init")),
        ),
        Knob(
            "normalization",
            "model.layers: add batchnorm after conv/dense layers",
            lambda c: "batchnorm" in _layer_types(c),
        ),
        Knob(
            "less regularization",
            "train.optimizer.weight_decay / train.l2 / dropout rates: lower",
            lambda c: not _has_regularization(c) and "dropout" not in _layer_types(c),
        ),
        Knob(
            "better architecture",
            "model.name: resnet18 (resnet20_cifar for 32x32 images; inception_v3, xception for 299x299), "
            "or residual/parallel blocks in model.layers",
            _uses_landmark_net,
        ),
        Knob(
            "transfer learning",
            "model.pretrained: RUN_DIR (a run of the same net on related images), model.freeze: none, "
            "train.fine_tune: {backbone_lr_mult: 0.1}",
            _uses_pretrained,
        ),
        Knob(
            "hyperparameter search", "knobwise tune CONFIG --space SPACE (learning rate on a log scale first)"
        ),
    ]
)
PROBLEMS.register("variance")(
    [
        Knob(
            "more training data", "data.limit: higher (or more data in the source), data.split.train: larger"
        ),
        Knob(
            "data augmentation",
            "data.augment: {rotation_range: 10, width_shift_range: 0.1, zoom_range: 0.1}",
            lambda c: bool(_get(c, "data.augment")),
        ),
        Knob(
            "transfer learning",
            "model.pretrained: RUN_DIR, model.freeze: backbone (only the new head learns from the small "
            "set), train.fine_tune: {unfreeze_at_epoch: 10, backbone_lr_mult: 0.1}",
            _uses_pretrained,
        ),
        Knob("L2 regularization", "train.optimizer.weight_decay: 5.0e-4 (or train.l2)", _has_regularization),
        Knob(
            "dropout",
            "model.layers: add dropout: {rate: 0.25..0.5} before dense layers",
            lambda c: "dropout" in _layer_types(c),
        ),
        Knob(
            "early stopping",
            "train.early_stopping: {monitor: val_loss, patience: 5, restore_best: true}",
            lambda c: bool(_get(c, "train.early_stopping")),
        ),
        Knob(
            "smaller or better network",
            "model.layers: fewer/narrower layers, or a zoo model with fewer parameters",
        ),
        Knob("hyperparameter search", "knobwise tune CONFIG --space SPACE (regularization strengths)"),
    ]
)
PROBLEMS.register("data_mismatch")(
    [
        Knob("error analysis of train-dev vs dev", "knobwise errors RUN --split dev (which examples differ)"),
        Knob(
            "make training data look like dev/test",
            "data.augment: noise, blur and distortions that mimic the dev/test images",
        ),
        Knob(
            "collect target-distribution data",
            "add dev/test-like examples to the training source (data.root)",
        ),
    ]
)
PROBLEMS.register("overfitting_to_dev")(
    [
        Knob("bigger dev set", "data.split.dev: larger"),
        Knob(
            "fewer looks at dev", "knobwise tune with fewer trials per dev set, or a fresh dev split (seed)"
        ),
    ]
)
PROBLEMS.register("label_noise")(
    [
        Knob("find mislabeled examples", "knobwise errors RUN --label-issues"),
        Knob("clean the data", "data.exclude: suspects.csv, or data.relabel: corrected.csv"),
        Knob(
            "remove ambiguity",
            "drop or merge ambiguous classes; add discriminating attributes (input features)",
        ),
    ]
)
# Learning-curve and gradient findings have their own knobs.
PROBLEMS.register("overfitting")(
    [
        Knob(
            "early stopping",
            "train.early_stopping: {monitor: val_loss, patience: 5, restore_best: true}",
            lambda c: bool(_get(c, "train.early_stopping")),
        ),
        Knob(
            "regularization", "train.optimizer.weight_decay: 5.0e-4, or dropout layers", _has_regularization
        ),
        Knob("data augmentation", "data.augment: {...}", lambda c: bool(_get(c, "data.augment"))),
    ]
)
PROBLEMS.register("lr_too_large")(
    [
        Knob("lower learning rate", "train.optimizer.lr: 3-10x lower (knobwise lr-find CONFIG)"),
        Knob(
            "learning-rate decay",
            "train.schedule: {name: reduce_on_plateau} or cosine",
            lambda c: bool(_get(c, "train.schedule")) and _get(c, "train.schedule.name") != "constant",
        ),
        Knob(
            "gradient clipping", "train.clip_grad_norm: 1.0", lambda c: bool(_get(c, "train.clip_grad_norm"))
        ),
    ]
)
PROBLEMS.register("lr_too_small")(
    [
        Knob("higher learning rate", "train.optimizer.lr: 3-10x higher (knobwise lr-find CONFIG)"),
        Knob(
            "better optimizer",
            "train.optimizer.name: adam (escapes plateaus and saddles)",
            _uses_adaptive_optimizer,
        ),
        Knob("better initialization", "model.init: he_normal", lambda c: bool(_get(c, "model.init"))),
        Knob("normalization", "model.layers: add batchnorm", lambda c: "batchnorm" in _layer_types(c)),
    ]
)
PROBLEMS.register("vanishing_gradients")(
    [
        Knob("ReLU activations", "model.layers: activation: relu instead of sigmoid/tanh"),
        Knob(
            "better initialization",
            "model.init: he_normal (ReLU) or xavier_uniform (tanh/sigmoid)",
            lambda c: bool(_get(c, "model.init")),
        ),
        Knob("batch normalization", "model.layers: add batchnorm", lambda c: "batchnorm" in _layer_types(c)),
        Knob("fewer layers", "model.layers: a shallower network"),
    ]
)
PROBLEMS.register("exploding_gradients")(
    [
        Knob(
            "gradient clipping", "train.clip_grad_norm: 1.0", lambda c: bool(_get(c, "train.clip_grad_norm"))
        ),
        Knob("lower learning rate", "train.optimizer.lr: 3-10x lower (knobwise lr-find CONFIG)"),
        Knob(
            "better initialization",
            "model.init: he_normal or xavier_uniform",
            lambda c: bool(_get(c, "model.init")),
        ),
        Knob("batch normalization", "model.layers: add batchnorm", lambda c: "batchnorm" in _layer_types(c)),
    ]
)


def knobs_for(problem: str, config: dict[str, Any] | None = None) -> list[Knob]:
    """The knobs for ``problem`` in order; with a run's ``config`` (a mapping), those already turned
    are left out (unless that would leave none).

    >>> [k.knob for k in knobs_for("overfitting_to_dev")]
    ['bigger dev set', 'fewer looks at dev']
    >>> "better optimizer" in [k.knob for k in knobs_for("bias", {"train": {"optimizer": {"name": "adam"}}})]
    False
    """
    knobs = PROBLEMS.get(problem)
    if config is None:
        return list(knobs)
    left = [k for k in knobs if k.done is None or not k.done(config)]
    return left or list(knobs)


def list_problems() -> list[str]:
    """Every problem with registered knobs."""
    return PROBLEMS.names()
