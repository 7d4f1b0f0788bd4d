"""The ``track:`` section: experiment tracking in TensorBoard and MLflow (both optional extras).

``true`` turns a tracker on with its defaults and ``false`` (or nothing) leaves it off, so
``--set track.tensorboard=true`` works as well as a mapping of options.

Example:
    >>> TrackConfig.model_validate({"tensorboard": True}).tensorboard.dir is None
    True
    >>> TrackConfig.model_validate({"mlflow": {"experiment": "ladder"}}).mlflow.tracking_uri is None
    True
    >>> TrackConfig.model_validate({"mlflow": False}).enabled
    False
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, field_validator

from knobwise.config._base import Section

__all__ = ["MlflowConfig", "TensorBoardConfig", "TrackConfig"]


class TensorBoardConfig(Section):
    """TensorBoard event files: per-epoch scalars, final metrics, the confusion matrix and the
    misclassified grid as images, the model graph (where tracing works), hparams for studies.

    ``dir`` None writes ``<run>/tensorboard``; a folder writes ``<dir>/<run name>`` (studies:
    ``<dir>/<study>/<trial>``), so one ``tensorboard --logdir DIR`` shows every run side by side.
    """

    dir: str | None = None
    images: bool = True
    graph: bool = True


class MlflowConfig(Section):
    """MLflow runs: the resolved config as parameters, per-epoch and final metrics, artifacts.

    ``tracking_uri`` None means ``$MLFLOW_TRACKING_URI`` when set, else the local SQLite file
    ``sqlite:///mlruns.db`` (never a server unless one is named). A study is a parent run with
    one nested run per trial.
    """

    tracking_uri: str | None = None
    experiment: str = "knobwise"
    artifacts: bool = True  # report, figures, model files, config, history and metrics


class TrackConfig(Section):
    """Which trackers a run (or every trial of a study) writes to."""

    tensorboard: TensorBoardConfig | None = None
    mlflow: MlflowConfig | None = None

    @field_validator("tensorboard", "mlflow", mode="before")
    @classmethod
    def _switch(cls, value: Any, info: ValidationInfo) -> Any:
        """``true`` → the defaults, ``false``/``null`` → off; a mapping is validated as it is."""
        if value is True:
            return {}
        if value is False:
            return None
        if value is not None and not isinstance(value, dict | Section):
            raise ValueError(
                f"track.{info.field_name} must be true, false or a mapping of options, got {value!r}"
            )
        return value

    @property
    def enabled(self) -> bool:
        return self.tensorboard is not None or self.mlflow is not None
