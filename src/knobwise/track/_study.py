"""Tracking a study: one MLflow parent run per study with a nested run per trial (parameters =
the sampled values, metrics = the objective and the intermediate values, tags = the trial's run
directory and state), and a TensorBoard hparams session per trial.

The main process opens the parent run (:meth:`StudyTracking.start`; its id is saved with the
study's settings, so workers, other machines and ``--resume`` use the same one). Each worker
creates a trial's nested run before the trial's process starts (:meth:`begin_trial`), the
trial's own training logs its epochs and artifacts into it, and the worker records the outcome
(:meth:`end_trial`). Failures are warnings, as for runs: a study never stops over its tracking.

Example:
    >>> from knobwise.config import TrackConfig
    >>> study_tracking({"track": {}}, Path("studies/s"), "s", {}) is None
    True
    >>> study_tracking({"track": {"tensorboard": True}}, Path("studies/s"), "s", {}).begin_trial(
    ...     3, {"train.optimizer.lr": 0.01}, Path("studies/s/trials/0003")).tensorboard_name
    's/0003'
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knobwise.config import TrackConfig
from knobwise.track._base import TrackContext, Tracker
from knobwise.track._mlflow import (
    experiment_id,
    log_metrics,
    log_params,
    log_series,
    mlflow_client,
    resolve_uri,
)
from knobwise.track._tensorboard import tensorboard_dir, write_hparams

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["StudyTracking", "study_tracking", "TRIAL_STATUS", "TRACKING_LOG"]

#: Optuna's trial state → (MLflow run status, TensorBoard hparams status).
TRIAL_STATUS = {
    "COMPLETE": ("FINISHED", "success"),
    "PRUNED": ("KILLED", "unknown"),
    "FAIL": ("FAILED", "failure"),
}

#: Where a study's tracking warnings go (a trial's own folder must not exist before its run starts).
TRACKING_LOG = "tracking.log"


def study_tracking(
    base: Mapping[str, Any], study_dir: Path, name: str, state: dict[str, Any], *, echo: bool = False
) -> StudyTracking | None:
    """The study's tracking from its base config mapping (None when ``track:`` asks for nothing)."""
    track = TrackConfig.model_validate(base.get("track") or {})
    return StudyTracking(track, study_dir, name, state, echo=echo) if track.enabled else None


class StudyTracking:
    """The study-level side of tracking. ``state`` is what :meth:`start` returned (saved in
    ``study.json``): the MLflow tracking URI, experiment and parent run ids. Warnings go to
    ``<study>/tracking.log`` (and to stderr with ``echo``: the main process, outside the live table).
    """

    def __init__(
        self, track: TrackConfig, study_dir: Path, name: str, state: dict[str, Any], *, echo: bool = False
    ) -> None:
        self.track = track
        self.study_dir = study_dir
        self.name = name
        self.state = dict(state)
        self.echo = echo
        self._guard = Tracker(self.log)
        self._guard.name = "mlflow"
        self._client: MlflowClient | None = None

    def log(self, line: str) -> None:
        """A warning line for ``<study>/tracking.log`` (and stderr with ``echo``)."""
        self.study_dir.mkdir(parents=True, exist_ok=True)
        with open(self.study_dir / TRACKING_LOG, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.echo:
            print(line, file=sys.stderr)

    # -- the parent run (main process) -----------------------------------------------------------
    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            assert self.track.mlflow is not None
            self._client = mlflow_client(
                self.state.get("tracking_uri") or resolve_uri(self.track.mlflow.tracking_uri)
            )
        return self._client

    def start(self, params: Mapping[str, Any], files: Sequence[Path] = ()) -> dict[str, Any]:
        """Open the parent run (create it the first time, with ``params`` and ``files``); returns
        the state to save with the study."""
        if self.track.mlflow is not None:
            self._guard.guard("opening the study's parent run", self._start, params, files)
        return self.state

    def _start(self, params: Mapping[str, Any], files: Sequence[Path]) -> None:
        assert self.track.mlflow is not None
        client = self._mlflow()
        if self.state.get("parent_run_id"):
            client.update_run(self.state["parent_run_id"], status="RUNNING")  # resumed or joined
            return
        uri = resolve_uri(self.track.mlflow.tracking_uri)
        exp = experiment_id(client, self.track.mlflow.experiment, uri)
        tags = {"knobwise.study": self.name, "knobwise.study_dir": str(self.study_dir.resolve())}
        run = client.create_run(exp, run_name=self.name, tags=tags)
        log_params(client, run.info.run_id, params)
        for f in files:
            if f.is_file():
                client.log_artifact(run.info.run_id, str(f))
        self.state = {"tracking_uri": uri, "experiment_id": exp, "parent_run_id": run.info.run_id}

    def finish(self, best_value: float | None, files: Sequence[Path] = (), status: str = "FINISHED") -> None:
        """Close the parent run with the best objective value and the study's result files."""
        if self.track.mlflow is not None and self.state.get("parent_run_id"):
            self._guard.guard("closing the study's parent run", self._finish, best_value, files, status)

    def _finish(self, best_value: float | None, files: Sequence[Path], status: str) -> None:
        client, run_id = self._mlflow(), self.state["parent_run_id"]
        if best_value is not None:
            log_metrics(client, run_id, {"best_value": best_value}, 0)
        for f in files:
            if f.is_file():
                client.log_artifact(run_id, str(f))
        client.set_terminated(run_id, status)

    # -- trials (worker process) -----------------------------------------------------------------
    def begin_trial(self, number: int, params: Mapping[str, Any], run_dir: Path) -> TrackContext:
        """Create the trial's nested run (its parameters: the sampled values); returns the context
        the trial's process trains with."""
        tb_name = f"{self.name}/{number:04d}"
        tags = {"knobwise.study": self.name, "knobwise.trial": str(number)}
        run_id = None
        if self.track.mlflow is not None and self.state.get("parent_run_id"):
            run_id = self._guard.guard(
                f"creating the run of trial {number}", self._begin, number, params, run_dir
            )
        return TrackContext(mlflow_run_id=run_id, tensorboard_name=tb_name, tags=tags)

    def _begin(self, number: int, params: Mapping[str, Any], run_dir: Path) -> str:
        client = self._mlflow()
        tags = {
            "mlflow.parentRunId": self.state["parent_run_id"],
            "knobwise.study": self.name,
            "knobwise.trial": str(number),
            "knobwise.run_dir": str(run_dir.resolve()),
        }
        run = client.create_run(self.state["experiment_id"], run_name=f"{self.name}-{number:04d}", tags=tags)
        log_params(client, run.info.run_id, params)
        return str(run.info.run_id)

    def end_trial(
        self,
        number: int,
        context: TrackContext,
        run_dir: Path,
        state: str,
        params: Mapping[str, Any],
        objectives: Mapping[str, float],
        intermediate: Mapping[int, float],
    ) -> None:
        """Record a trial's outcome: ``state`` is COMPLETE, PRUNED or FAIL; ``objectives`` maps
        ``objective`` (or ``objective/<metric>`` for several) to the values Optuna received;
        ``intermediate`` the per-epoch values reported to the pruner."""
        mlflow_status, tb_status = TRIAL_STATUS.get(state, ("FAILED", "failure"))
        if context.mlflow_run_id is not None:
            self._guard.guard(
                f"recording trial {number}",
                self._end,
                number,
                context.mlflow_run_id,
                state,
                mlflow_status,
                objectives,
                intermediate,
            )
        # A trial refused as bad input has no run folder: no hparams folder is made in its place.
        if self.track.tensorboard is not None and (self.track.tensorboard.dir or run_dir.is_dir()):
            tb = Tracker(self.log)
            tb.name = "tensorboard"
            log_dir = tensorboard_dir(self.track.tensorboard, run_dir, context.tensorboard_name)
            tb.guard(
                f"writing the hparams of trial {number}",
                write_hparams,
                log_dir,
                params,
                objectives,
                tb_status,
            )

    def _end(
        self,
        number: int,
        run_id: str,
        state: str,
        status: str,
        objectives: Mapping[str, float],
        intermediate: Mapping[int, float],
    ) -> None:
        client = self._mlflow()
        log_series(client, run_id, "intermediate_value", intermediate)
        if objectives:
            log_metrics(client, run_id, objectives, 0)
            if state == "COMPLETE":  # the parent charts the objective against the trial number
                log_metrics(client, self.state["parent_run_id"], objectives, number)
        client.set_tag(run_id, "knobwise.trial_state", state)
        client.set_terminated(run_id, status)
