"""MLflow: one run per training run (a nested run per trial of a study), the resolved config as
parameters, per-epoch and final metrics, the run's files as artifacts.

The tracking URI is ``track.mlflow.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the local
SQLite file ``sqlite:///mlruns.db``: nothing is sent to a server unless the user names one. Local
SQLite paths are made absolute (trial processes and a later ``--resume`` find the same file), and
an experiment created here keeps its artifacts in ``mlruns/`` beside the database file. A SQLite
database locked by another process is waited for :data:`SQLITE_BUSY_TIMEOUT_MS` (MLflow's own
wait is 20 s), so a locked store costs a run about two seconds and one warning.

Example:
    >>> resolve_uri("sqlite:////data/ml.db"), resolve_uri("http://127.0.0.1:5000")
    ('sqlite:////data/ml.db', 'http://127.0.0.1:5000')
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knobwise.config import MlflowConfig
from knobwise.track._base import TrackContext, Tracker, epoch_scalars, final_scalars, flatten

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from knobwise.train import Trainer

__all__ = [
    "MlflowTracker",
    "DEFAULT_URI",
    "resolve_uri",
    "mlflow_client",
    "experiment_id",
    "log_params",
    "log_metrics",
    "log_series",
]

DEFAULT_URI = "sqlite:///mlruns.db"
#: How long a write waits for a SQLite database another process holds locked: long enough for
#: concurrent workers' short transactions, short enough that a locked store costs a run little.
SQLITE_BUSY_TIMEOUT_MS = 2000
#: MLflow's limits per log_batch call and per parameter value.
_MAX_PARAMS, _MAX_METRICS, _MAX_VALUE = 100, 1000, 6000
#: The run directory's files logged as artifacts (figures/ goes as a folder).
ARTIFACTS = (
    "report.html",
    "config.yaml",
    "history.csv",
    "metrics.json",
    "model.json",
    "model.safetensors",
    "log.txt",
)


def resolve_uri(uri: str | None) -> str:
    """The tracking URI to use; a relative SQLite path becomes absolute."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def mlflow_client(uri: str) -> MlflowClient:
    """A client for ``uri``. MLflow's own log lines (database creation, SQL tracebacks) stay out of
    the console: a failure becomes the tracker's one warning line instead."""
    # lazy: mlflow is optional and slow to import; it also configures its loggers on first import
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if uri.startswith("sqlite:"):
        _short_busy_timeout(uri)
    return MlflowClient(tracking_uri=uri)


def _short_busy_timeout(uri: str) -> None:
    """Give the SQLite engine MLflow uses for ``uri`` a busy timeout of SQLITE_BUSY_TIMEOUT_MS.

    MLflow keeps one engine per URI and sets ``PRAGMA busy_timeout = 20000`` at the start of
    every session; the engine is created here first (through MLflow's own cache) with listeners
    that set the shorter timeout on each new connection and in place of that pragma. With an
    MLflow that has no such cache the engine is left as MLflow makes it (a 20 s wait)."""
    # lazy: SQLAlchemy and MLflow's store load only when a run logs to MLflow
    from sqlalchemy import event

    try:
        # lazy: as above (and an MLflow without this module keeps its own timeout)
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        engine = SqlAlchemyStore._get_or_create_engine(uri)
    except (ImportError, AttributeError):
        return
    if getattr(engine, "_knobwise_busy_timeout", False):
        return
    pragma = f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute(pragma)  # the first reads (do the tables exist?) wait no longer

    def before_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        if statement.lstrip().upper().startswith("PRAGMA BUSY_TIMEOUT"):
            return pragma, parameters
        return statement, parameters

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "before_cursor_execute", before_execute, retval=True)
    engine.dispose()  # the connection MLflow opened to check the engine is replaced by one with it
    engine._knobwise_busy_timeout = True  # type: ignore[attr-defined]


def experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment ``name``, created when missing (another process may win the race)."""
    # lazy: mlflow is an optional tracker
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri[len("sqlite:///") :]).parent / "mlruns").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return str(exp.experiment_id)


def _param_value(value: Any) -> str:
    """Strings as they are, everything else as JSON (``true``, ``null``, ``[16, 32]``)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Parameters in batches of MLflow's maximum size."""
    # lazy: mlflow is an optional tracker
    from mlflow.entities import Param

    items = [Param(k, _param_value(v)) for k, v in params.items()]
    for i in range(0, len(items), _MAX_PARAMS):
        client.log_batch(run_id, params=items[i : i + _MAX_PARAMS], synchronous=True)


def log_metrics(client: MlflowClient, run_id: str, values: Mapping[str, float], step: int) -> None:
    """Metrics at ``step`` in batches of MLflow's maximum size."""
    # lazy: mlflow is an optional tracker
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    items = [Metric(k, float(v), stamp, step) for k, v in values.items()]
    for i in range(0, len(items), _MAX_METRICS):
        client.log_batch(run_id, metrics=items[i : i + _MAX_METRICS], synchronous=True)


def log_series(client: MlflowClient, run_id: str, key: str, values: Mapping[int, float]) -> None:
    """One metric at several steps (``{step: value}``), in one call."""
    # lazy: mlflow is an optional tracker
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    items = [Metric(key, float(v), stamp, int(step)) for step, v in sorted(values.items())]
    for i in range(0, len(items), _MAX_METRICS):
        client.log_batch(run_id, metrics=items[i : i + _MAX_METRICS], synchronous=True)


class MlflowTracker(Tracker):
    """Logs one run. A new run gets the resolved config as parameters (dotted keys); a study's
    trial logs into the nested run its worker created; a resumed run continues its own run (the
    id is kept in ``<run>/tracking.json``)."""

    name = "mlflow"

    def __init__(
        self,
        cfg: MlflowConfig,
        run_root: Path,
        config: Mapping[str, Any],
        log: Callable[[str], None],
        *,
        context: TrackContext | None = None,
        resume_run_id: str | None = None,
        on_open: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(log)
        self.cfg = cfg
        self.run_root = run_root
        self.config = config
        self.context = context
        self.resume_run_id = resume_run_id
        self.on_open = on_open
        self.uri = resolve_uri(cfg.tracking_uri)
        self.client: MlflowClient | None = None
        self.run_id: str | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        super().on_train_begin(trainer)
        self.guard(f"opening {self.uri}", self._open)

    def _open(self) -> None:
        client = mlflow_client(self.uri)
        if self.context is not None and self.context.mlflow_run_id:
            self.run_id = self.context.mlflow_run_id  # a trial: its worker created the run
        elif self.resume_run_id:
            self.run_id = self.resume_run_id
            client.update_run(self.run_id, status="RUNNING")
        else:
            exp = experiment_id(client, self.cfg.experiment, self.uri)
            tags = {"knobwise.run_dir": str(self.run_root.resolve())}
            if self.context is not None:
                tags.update(self.context.tags)
            run = client.create_run(exp, run_name=self.run_root.name, tags=tags)
            self.run_id = run.info.run_id
            log_params(client, self.run_id, flatten(self.config))
        self.client = client
        if self.on_open is not None:
            self.on_open(self.uri, self.run_id)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.client is not None and self.run_id is not None:
            self.guard(f"logging epoch {epoch + 1}", self._epoch, epoch + 1, logs)

    def _epoch(self, step: int, logs: dict[str, Any]) -> None:
        assert self.client is not None and self.run_id is not None
        log_metrics(self.client, self.run_id, epoch_scalars(logs), step)
        if logs.get("knob_change"):  # babysitting: the parameters keep the values the run started with
            self.client.set_tag(self.run_id, f"knobwise.knob_change.epoch_{step}", str(logs["knob_change"]))

    def finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        if self.client is not None:
            self.guard("logging the final metrics and artifacts", self._finish, run_root, metrics)

    def _finish(self, run_root: Path, metrics: Mapping[str, Any]) -> None:
        assert self.client is not None and self.run_id is not None
        step = int(metrics.get("run", {}).get("epochs", 0))
        log_metrics(self.client, self.run_id, final_scalars(metrics), step)
        if self.cfg.artifacts:
            for name in ARTIFACTS:
                if (run_root / name).is_file():
                    self.client.log_artifact(self.run_id, str(run_root / name))
            if (run_root / "figures").is_dir():
                self.client.log_artifacts(self.run_id, str(run_root / "figures"), "figures")
        if not self._is_trial:
            self.client.set_terminated(self.run_id, "FINISHED")

    @property
    def _is_trial(self) -> bool:
        return self.context is not None and bool(self.context.mlflow_run_id)

    def close(self, error: BaseException | None = None) -> None:
        # A trial's outcome (pruned, failed) is the worker's to record; a run that raised is FAILED.
        if error is not None and self.client is not None and self.run_id and not self._is_trial:
            self.guard("marking the run failed", self.client.set_terminated, self.run_id, "FAILED")
        self.client = None
