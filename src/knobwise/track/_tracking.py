"""The trackers of one run, as one callback of the training loop.

``train_experiment`` opens them with the run directory, the Trainer calls them once per epoch
(after the history writer and early stopping), and once metrics.json and the report exist
:meth:`Tracking.finish` logs the final metrics and artifacts. Leaving the ``with`` block closes
every tracker; an exception marks the MLflow run FAILED.

Example:
    >>> from knobwise.config import load_config
    >>> tracking = open_tracking(load_config(None), Path("runs/x"))  # no track: section, no trackers
    >>> tracking.trackers
    []
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from knobwise.config import ExperimentConfig, TrackConfig, config_to_yaml
from knobwise.io import append_line, atomic_write_json, read_json
from knobwise.track._base import TrackContext, Tracker, require
from knobwise.track._mlflow import MlflowTracker, resolve_uri
from knobwise.track._tensorboard import TensorBoardTracker, tensorboard_dir
from knobwise.train import Callback

if TYPE_CHECKING:
    from knobwise.train import Trainer

__all__ = ["Tracking", "open_tracking", "check_tracking", "TRACKING_JSON"]

#: Where a run remembers its MLflow run (and TensorBoard folder), for ``--resume``.
TRACKING_JSON = "tracking.json"


def check_tracking(track: TrackConfig) -> None:
    """A tracker whose package is missing is bad input: one line naming the extra to install."""
    if track.tensorboard is not None:
        require("torch.utils.tensorboard", "tensorboard", "track.tensorboard")
    if track.mlflow is not None:
        require("mlflow", "mlflow", "track.mlflow")


class Tracking(Callback):
    """Fans the training hooks out to each tracker; a context manager that closes them all."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = trackers

    def on_train_begin(self, trainer: Trainer) -> None:
        for t in self.trackers:
            t.on_train_begin(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        for t in self.trackers:
            t.on_epoch_end(trainer, epoch, logs)

    def on_train_end(self, trainer: Trainer) -> None:
        for t in self.trackers:
            t.on_train_end(trainer)

    def finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        """The run is complete: final metrics and artifacts, then close."""
        for t in self.trackers:
            t.finish(run_root, metrics)
        self.close()

    def close(self, error: BaseException | None = None) -> None:
        for t in self.trackers:
            t.close(error)

    def __enter__(self) -> Tracking:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(error)


def open_tracking(
    cfg: ExperimentConfig,
    run_root: str | Path,
    *,
    context: TrackContext | None = None,
    resuming: bool = False,
    log: Callable[[str], None] | None = None,
) -> Tracking:
    """The trackers ``cfg.track`` asks for, for the run in ``run_root`` (nothing is opened until
    training begins). ``context`` comes from a study's worker; ``resuming`` continues the run's
    own MLflow run."""
    root = Path(run_root)
    track = cfg.track
    if not track.enabled:
        return Tracking([])
    check_tracking(track)
    if log is None:
        log = functools.partial(append_line, root / "log.txt")
    state_path = root / TRACKING_JSON
    state: dict[str, Any] = read_json(state_path) if resuming and state_path.is_file() else {}
    trackers: list[Tracker] = []
    if track.tensorboard is not None:
        name = context.tensorboard_name if context is not None else None
        log_dir = tensorboard_dir(track.tensorboard, root, name)
        state["tensorboard"] = {"dir": str(log_dir)}
        trackers.append(TensorBoardTracker(track.tensorboard, log_dir, config_to_yaml(cfg), log))
    if track.mlflow is not None:
        saved = state.get("mlflow", {})
        same_store = saved.get("tracking_uri") == resolve_uri(track.mlflow.tracking_uri)

        def remember(uri: str, run_id: str) -> None:
            state["mlflow"] = {"tracking_uri": uri, "run_id": run_id}
            atomic_write_json(state_path, state)

        trackers.append(
            MlflowTracker(
                track.mlflow,
                root,
                cfg.model_dump(mode="json"),
                log,
                context=context,
                resume_run_id=saved.get("run_id") if same_store else None,
                on_open=remember,
            )
        )
    atomic_write_json(state_path, state)
    return Tracking(trackers)
