"""A run directory as one object: the files it holds and everything rebuilt from them.

:class:`BaseRun` is the run layer's home of a run. It reads lazily and once: the resolved config,
the history, the metrics, ``model.json``, the trained model (safetensors), the predictions per
split, and the data rebuilt from the config (``prepare_data`` is deterministic in the config and
seed, so it is the split the run was trained and evaluated on). Evaluation, prediction and
export live here too. The analyses above this layer (diagnose, errors, report, explain) take a
run from here; the public :class:`knobwise.Run` adds them as methods.

An ensemble run (``model.json`` with an ``ensemble`` key, written by
:func:`~knobwise.run.write_ensemble` or a population) has no single model: :attr:`BaseRun.members`
are its member runs, :meth:`BaseRun.predict` combines their probabilities by the ensemble's vote,
and :attr:`BaseRun.model` (hence evaluate, export) raises a :class:`RunError` saying so.

Example (a finished run)::

    run = BaseRun("runs/20250101-digits")
    run.metrics["test"]["accuracy"], run.classes[:3]
    run.evaluate("dev").report()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobwise.config import ExperimentConfig, config_from_dict, read_yaml
from knobwise.data import PreparedData, prepare_data
from knobwise.device import resolve_device
from knobwise.errors import RunError
from knobwise.io import load_tensors, read_csv, read_json
from knobwise.metrics import Predictions, load_predictions, report_text
from knobwise.models import build_from_layers
from knobwise.objective import SPLITS
from knobwise.run._ensemble import vote
from knobwise.run._evaluate import evaluate_run, evaluate_splits, to_predictions
from knobwise.run._export import ExportResult, export
from knobwise.run._export import check_images as real_images
from knobwise.run._inputs import Inputs
from knobwise.run._layout import RunPaths, open_run
from knobwise.run._predict import Prediction, check_top, predict
from knobwise.run._unfinished import unfinished_message
from knobwise.train import autocast_dtype

__all__ = ["BaseRun", "Evaluation", "as_run", "runs_of"]


@dataclass
class Evaluation:
    """What :meth:`BaseRun.evaluate` measured: ``metrics`` per split (metrics.json's layout),
    the hesitant predictions per split, and the classification report as text."""

    run: str
    metrics: dict[str, Any]
    hesitant: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def splits(self) -> list[str]:
        """The evaluated splits, in the usual order."""
        return [s for s in SPLITS if s in self.metrics]

    def report(self, split: str | None = None, digits: int = 3) -> str:
        """The classification report of ``split`` (default: the only one, else dev, else test),
        every rate with its interval and the examples behind it."""
        names = self.splits()
        if split is None:
            split = (
                names[0] if len(names) == 1 else next((s for s in ("dev", "test") if s in names), names[0])
            )
        if split not in self.metrics:
            raise RunError(f"{self.run}: no {split} split evaluated (evaluated: {', '.join(names)})")
        m = self.metrics[split]
        return report_text(m, digits=digits, intervals=(m.get("ci") or {}).get("level", 0.95))

    def __getitem__(self, split: str) -> dict[str, Any]:
        return self.metrics[split]

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout ``knobwise evaluate --json`` prints."""
        return {"run": self.run, "metrics": self.metrics, "hesitant": self.hesitant}


class BaseRun:
    """A run directory: config, history, metrics, model, predictions and data, loaded lazily.

    ``device`` is where the model is loaded and the data rebuilt (default: the run's own
    ``train.device``, resolved on this machine).
    """

    def __init__(self, root: str | Path, *, device: str | torch.device | None = None) -> None:
        self.paths: RunPaths = open_run(root)
        self._device = device
        self._config: ExperimentConfig | None = None
        self._metrics: dict[str, Any] | None = None
        self._history: list[dict[str, Any]] | None = None
        self._meta: dict[str, Any] | None = None
        self._model: torch.nn.Module | None = None
        self._data: PreparedData | None = None
        self._predictions: dict[str, Predictions] | None = None
        self._members: list[BaseRun] | None = None

    @classmethod
    def from_training(
        cls,
        root: Path,
        config: ExperimentConfig,
        data: PreparedData,
        model: torch.nn.Module,
        amp_dtype: torch.dtype | None,
        history: list[dict[str, Any]],
        metrics: dict[str, Any],
    ) -> BaseRun:
        """The run just trained, with its data and model still in memory (nothing is reloaded)."""
        run = cls(root, device=next(iter(model.parameters()), torch.empty(0)).device)
        run._config, run._data, run._model = config, data, model.eval()
        run._history, run._metrics = list(history), metrics
        return run

    # -- files -------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The run directory."""
        return self.paths.root

    @property
    def name(self) -> str:
        """The config's ``name``, else the directory's name."""
        return self.config.name or self.root.name

    @property
    def config(self) -> ExperimentConfig:
        """The resolved config the run was trained with."""
        if self._config is None:
            self._config = config_from_dict(read_yaml(self.paths.config))
        return self._config

    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``: per split the metric family, plus ``model``, ``run``, ``objective``."""
        if self._metrics is None:
            if not self.paths.metrics.is_file():
                raise RunError(unfinished_message(self.root, "metrics.json"))
            loaded = read_json(self.paths.metrics)
            if not isinstance(loaded, dict):
                raise RunError(f"{self.paths.metrics}: expected a JSON object")
            self._metrics = loaded
        return self._metrics

    @property
    def history(self) -> list[dict[str, Any]]:
        """``history.csv``: one dict per epoch (loss, accuracy, val_loss, val_accuracy, lr, ...)."""
        if self._history is None:
            self._history = read_csv(self.paths.history) if self.paths.history.is_file() else []
        return self._history

    @property
    def meta(self) -> dict[str, Any]:
        """``model.json``: the layer list, input shape, class names and the data's normalization."""
        if self._meta is None:
            if not self.paths.model_json.is_file():
                raise RunError(unfinished_message(self.root, "model.json"))
            self._meta = read_json(self.paths.model_json)
        return self._meta

    @property
    def classes(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        if self._data is not None and self._meta is None:
            return list(self._data.classes)
        return [str(c) for c in self.meta.get("classes", [])]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input shape ``(C, H, W)`` (or ``(F,)`` for attribute rows)."""
        if self._data is not None and self._meta is None:
            return tuple(self._data.input_shape)
        return tuple(int(v) for v in self.meta["input_shape"])

    @property
    def stop_reason(self) -> str | None:
        """Why training stopped before its last epoch (early stopping, ...), else None."""
        return (self.metrics.get("run") or {}).get("stop_reason")

    # -- rebuilt objects ---------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """Where the model and the data live."""
        return resolve_device(self._device if self._device is not None else self.config.train.device)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype the run evaluates with (bf16 on CUDA by default, none on CPU)."""
        return autocast_dtype(self.config.train, self.device)

    @property
    def is_ensemble(self) -> bool:
        """Whether the run is an ensemble of other runs (``model.json``'s ``ensemble`` key)."""
        if self._model is not None:
            return False
        return "ensemble" in self.meta

    @property
    def members(self) -> list[BaseRun]:
        """An ensemble's member runs, in its order (empty for a run of one model)."""
        if self._members is None:
            spec = self.meta.get("ensemble") if self._model is None else None
            paths = [] if spec is None else [Path(p) for p in spec.get("members", [])]
            self._members = [
                BaseRun(p if p.is_absolute() else self.root / p, device=self._device) for p in paths
            ]
        return self._members

    @property
    def model(self) -> torch.nn.Module:
        """The trained model (weights from ``model.safetensors``), in eval mode on :attr:`device`.

        An ensemble run has none (a :class:`RunError`): :meth:`predict` votes its members."""
        if self._model is None:
            if self.is_ensemble:
                raise RunError(
                    f"{self.root}: an ensemble of {len(self.members)} runs has no single model; "
                    "predict with the run (it votes its members) or use run.members[k].model"
                )
            if not self.paths.weights.is_file():
                raise RunError(unfinished_message(self.root, "model.safetensors"))
            meta = self.meta
            model = build_from_layers(meta["layers"], tuple(meta["input_shape"]), None)
            model.load_state_dict(load_tensors(self.paths.weights, self.device))
            self._model = model.to(self.device).eval()
        return self._model

    @property
    def withheld(self) -> tuple[str, ...]:
        """Splits the run never loaded: a run evaluated without its test split (a tuning trial)
        withheld it, and it stays unread when the data is rebuilt."""
        try:
            metrics = self.metrics
        except RunError:
            return ()
        return () if "test" in metrics else ("test",)

    @property
    def data(self) -> PreparedData:
        """The run's data rebuilt from its config (the same splits and normalization), cached."""
        if self._data is None:
            cfg = self.config
            self._data = prepare_data(cfg.data, seed=cfg.seed, device=self.device, withhold=self.withheld)
        return self._data

    def predictions(self, split: str = "dev") -> Predictions:
        """The per-example outputs on ``split``: from ``predictions.npz``, else computed."""
        if self._predictions is None:
            self._predictions = (
                load_predictions(self.paths.predictions) if self.paths.predictions.is_file() else {}
            )
        if split not in self._predictions:
            data = self.data
            if split not in data.splits or len(data.splits[split]) == 0:
                raise RunError(f"{self.root}: has no {split} split (splits: {', '.join(data.splits)})")
            outputs: dict[str, dict[str, Any]] = {}
            evaluate_splits(self.model, data, self.amp_dtype, outputs, [split], self.config.evaluate.tta)
            self._predictions[split] = to_predictions(outputs[split])
        return self._predictions[split]

    # -- actions -----------------------------------------------------------------------------

    def predict(
        self, inputs: Inputs, *, top: int = 1, batch_size: int = 256, resize: bool = False
    ) -> Prediction:
        """Classify images: files, folders, ``.npz`` arrays (key ``x``), or arrays/tensors (uint8
        0-255 or floats in [0, 1]), decoded and normalized as in training, batched on the run's
        device. ``resize`` scales other sizes to the model's input instead of refusing them. The
        run's ``evaluate.tta`` applies as in evaluation (the probabilities average its views).
        An ensemble run predicts with each member and combines their probabilities by its vote
        (``proba`` is their mean, the class is the vote's)."""
        if self.is_ensemble:
            top = check_top(top, len(self.classes), "top")
            parts = [m.predict(inputs, batch_size=batch_size, resize=resize) for m in self.members]
            how = self.meta["ensemble"].get("vote", "plurality")
            chosen, proba = vote(np.stack([p.proba for p in parts]), how)
            return Prediction(ids=parts[0].ids, proba=proba, class_names=self.classes, top=top, chosen=chosen)
        return predict(
            self.model,
            self.meta,
            inputs,
            top=top,
            device=self.device,
            batch_size=batch_size,
            resize=resize,
            tta=self.config.evaluate.tta,
        )

    def export(self, path: str | Path, format: str | None = None, *, check_images: int = 64) -> ExportResult:
        """Write a deployable model with the normalization inside (it takes images in [0, 1]):
        ONNX (``.onnx``) or TorchScript (``.pt``); ``format`` defaults from the suffix. The file
        is verified by running it on ``check_images`` real images of the run's data."""
        fmt = format or ("onnx" if Path(path).suffix.lower() == ".onnx" else "torchscript")
        images = real_images(self.data, check_images)
        return export(self.model, self.meta, path, fmt, check_inputs=images)

    def evaluate(
        self,
        split: str | None = None,
        *,
        latency: bool = False,
        ci: float | None = None,
        hesitant: int = 10,
    ) -> Evaluation:
        """Recompute the metrics from the saved model (``split`` or every split); ``latency``
        also times it, ``ci`` adds confidence intervals at that level (e.g. 0.95)."""
        out = evaluate_run(self, split, latency=latency, ci=ci, hesitant=hesitant)
        return Evaluation(out["run"], out["metrics"], out["hesitant"])

    def _split_summary(self) -> str:
        try:
            metrics = self.metrics
        except RunError:
            return "unfinished"
        parts = [
            f"{s} accuracy {metrics[s]['accuracy']:.4f}"
            for s in ("dev", "test")
            if isinstance(metrics.get(s), dict) and metrics[s].get("accuracy") is not None
        ]
        return ", ".join(parts) or "no metrics"

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.root}': {self._split_summary()})"

    def __fspath__(self) -> str:
        return str(self.root)


def runs_of(paths: Sequence[str | Path]) -> list[BaseRun]:
    """:class:`BaseRun` s of ``paths`` (each must be a run directory)."""
    return [BaseRun(p) for p in paths]


def as_run(run: BaseRun | str | Path) -> BaseRun:
    """``run`` itself, or the :class:`BaseRun` of a run directory path."""
    return run if isinstance(run, BaseRun) else BaseRun(run)
