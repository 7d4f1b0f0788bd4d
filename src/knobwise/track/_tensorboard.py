"""TensorBoard: per-epoch scalars named as in history.csv, the final metrics, the confusion matrix
and misclassified grid as images, the model graph where tracing works, hparams for trials.

Written with ``torch.utils.tensorboard`` (the ``tensorboard`` extra); ``tensorboard --logdir DIR``
reads it and binds 127.0.0.1 by default.

Example:
    >>> from knobwise.config import TensorBoardConfig
    >>> tensorboard_dir(TensorBoardConfig(), Path("runs/a")).as_posix()
    'runs/a/tensorboard'
    >>> tensorboard_dir(TensorBoardConfig(dir="tb"), Path("runs/a"), "study/0003").as_posix()
    'tb/study/0003'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from knobwise.config import TensorBoardConfig
from knobwise.track._base import Tracker, epoch_scalars, final_scalars

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from knobwise.train import Trainer

__all__ = ["TensorBoardTracker", "tensorboard_dir", "write_hparams", "FIGURE_IMAGES"]

#: Report figures shown as TensorBoard images: file stem in ``figures/`` → image tag.
FIGURE_IMAGES = {
    "confusion_dev": "confusion_matrix/dev",
    "confusion_test": "confusion_matrix/test",
    "misclassified_dev": "misclassified/dev",
}

#: The final numbers per split shown as scalars (MLflow gets every number of metrics.json).
_FINAL_KEYS = ("loss", "accuracy", "error", "macro.f1", "hmean.recall")


def tensorboard_dir(cfg: TensorBoardConfig, run_root: Path, name: str | None = None) -> Path:
    """``<run>/tensorboard``, or ``<dir>/<name or run folder name>`` when ``dir`` is set."""
    if cfg.dir is None:
        return run_root / "tensorboard"
    return Path(cfg.dir) / (name or run_root.name)


def _png(path: Path) -> np.ndarray:
    # lazy: Pillow loads only when a figure file is logged
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class TensorBoardTracker(Tracker):
    """One :class:`SummaryWriter` per run; a resumed run appends and drops events after its
    checkpoint (``purge_step``), so a replayed epoch is not drawn twice."""

    name = "tensorboard"

    def __init__(self, cfg: TensorBoardConfig, log_dir: Path, config_yaml: str, log: Callable[[str], None]):
        super().__init__(log)
        self.cfg = cfg
        self.log_dir = log_dir
        self.config_yaml = config_yaml
        self.writer: SummaryWriter | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        super().on_train_begin(trainer)
        self.guard(f"opening {self.log_dir}", self._open, trainer)

    def _open(self, trainer: Trainer) -> None:
        # lazy: tensorboard is an optional tracker and slow to import
        from torch.utils.tensorboard import SummaryWriter

        purge = trainer.epoch + 1 if trainer.epoch else None
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge)
        if trainer.epoch:
            return  # resumed: the config and graph are there already
        self.writer.add_text("config", "```yaml\n" + self.config_yaml + "\n```", 0)
        if self.cfg.graph:
            self._graph(trainer)
        self.writer.flush()

    def _graph(self, trainer: Trainer) -> None:
        """The model graph via tracing; a model that does not trace is logged, not an error."""
        assert self.writer is not None
        model = trainer.model
        example = trainer.data.splits["train"].x[:1]
        was_training = model.training
        model.eval()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings are about the tracer, not the run
                self.writer.add_graph(model, example)
        except Exception as exc:
            self.log(f"tensorboard: no model graph (tracing failed: {type(exc).__name__})")
        finally:
            model.train(was_training)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.writer is not None:
            self.guard(f"writing epoch {epoch + 1}", self._epoch, epoch + 1, logs)

    def _epoch(self, step: int, logs: Mapping[str, Any]) -> None:
        assert self.writer is not None
        for key, value in epoch_scalars(logs).items():
            self.writer.add_scalar(key, value, step)
        if logs.get("knob_change"):
            self.writer.add_text("knob_change", str(logs["knob_change"]), step)
        self.writer.flush()  # so that a live TensorBoard shows the epoch now

    def finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        if self.writer is not None:
            self.guard("writing the final metrics", self._finish, run_root, metrics)

    def _finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        assert self.writer is not None
        step = int(metrics.get("run", {}).get("epochs", 0))
        scalars = final_scalars(metrics)
        for split in ("train", "train_dev", "dev", "test"):
            for key in _FINAL_KEYS:
                if f"{split}.{key}" in scalars:
                    self.writer.add_scalar(f"final/{split}/{key}", scalars[f"{split}.{key}"], step)
        if "objective.value" in scalars:
            self.writer.add_scalar("final/objective", scalars["objective.value"], step)
        if self.cfg.images:
            for stem, tag in FIGURE_IMAGES.items():
                png = run_root / "figures" / f"{stem}.png"
                if png.is_file():
                    self.writer.add_image(tag, _png(png), step, dataformats="HWC")
        self.writer.flush()

    def close(self, error: BaseException | None = None) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            self.guard("closing its event file", writer.close)


def write_hparams(
    log_dir: Path, params: Mapping[str, Any], metrics: Mapping[str, float], status: str
) -> None:
    """A trial's hparams session (sampled values, objective, status) for TensorBoard's HParams tab.

    ``status`` is ``success``, ``failure`` or ``unknown`` (a pruned trial ended early on purpose).
    """
    # lazy: tensorboard is an optional tracker and slow to import
    from tensorboard.plugins.hparams import api_pb2
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    plain = {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in params.items()}
    exp, ssi, sei = hparams(plain, dict(metrics))
    code = {"success": api_pb2.STATUS_SUCCESS, "failure": api_pb2.STATUS_FAILURE}
    sei.value[0].metadata.plugin_data.content = _session_end(code.get(status, api_pb2.STATUS_UNKNOWN))
    with SummaryWriter(str(log_dir)) as writer:
        for summary in (exp, ssi, sei):
            writer.file_writer.add_summary(summary)  # type: ignore[union-attr]
        for key, value in metrics.items():
            writer.add_scalar(key, value)


def _session_end(status: int) -> bytes:
    # lazy: tensorboard is an optional tracker
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData(
        version=0, session_end_info=plugin_data_pb2.SessionEndInfo(status=status)
    )
    return data.SerializeToString()
