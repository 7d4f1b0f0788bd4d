"""Studies: the settings in ``study.json``, opening the storage (SQLite by default, any SQLAlchemy
URL, a journal file), creating, joining and resuming a study, and the trial budget. The folder's
layout and the choice of storage URL are in :mod:`knobwise.tune._paths`.

Example:
    >>> settings = StudySettings("demo", "studies/demo", "sqlite:///studies/demo/study.db",
    ...                          ["accuracy"], ["maximize"], [], "accuracy")
    >>> str(settings.paths.study_json)
    'studies/demo/study.json'
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from knobwise.errors import ConfigError
from knobwise.io import atomic_write_json, read_json
from knobwise.tune._options import StudyOptions
from knobwise.tune._paths import StudyPaths, mask_url

__all__ = [
    "StudySettings",
    "open_storage",
    "read_settings",
    "write_settings",
    "load_optuna_study",
    "create_optuna_study",
    "budget_left",
    "counted_trials",
]


@dataclass
class StudySettings(StudyOptions):
    """Everything a worker (here or on another machine) needs to run trials of the study: the
    :class:`StudyOptions` it was started with, and what was derived from the config and space."""

    name: str
    study_dir: str
    storage: str  # the URL with any password masked (the real one travels in memory/env only)
    objectives: list[str]
    directions: list[str]
    constraints: list[str]
    metric: str
    n_trials: int = 20
    seed: int = 0  # the sampler seed (--seed, else the config's seed)
    epochs: int = 10
    rounds: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, Any] = field(default_factory=dict)  # the MLflow parent run (knobwise.track)

    @property
    def dir(self) -> Path:
        return Path(self.study_dir)

    @property
    def paths(self) -> StudyPaths:
        return StudyPaths(self.dir)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # several local workers wait for the write lock
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {}


def open_storage(url: str, heartbeat: int | None = 10, grace: int | None = 30) -> BaseStorage:
    """An Optuna storage for ``url``: ``journal:PATH`` (a journal file) or any SQLAlchemy URL.

    RDB storages get heartbeats: a trial whose worker stopped beating for ``grace`` seconds
    becomes FAIL and is retried once with the same parameters. A storage that cannot be reached
    is a :class:`ConfigError` with the reason on one line.
    """
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise ConfigError(f"--storage {url}: folder {path.parent} does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    # lazy: sqlalchemy loads only for RDB storages, not for journal files
    import sqlalchemy.exc

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat,
                grace_period=grace,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"--storage {mask_url(url)}: cannot open the storage ({reason})") from None


def read_settings(study_dir: Path) -> StudySettings:
    """The settings saved in ``study_dir/study.json``."""
    path = StudyPaths(study_dir).study_json
    if not path.is_file():
        raise ConfigError(f"{study_dir}: no study here ({path.name} is missing)")
    data = read_json(path)
    known = StudySettings.__dataclass_fields__
    return StudySettings(**{k: v for k, v in data.get("settings", {}).items() if k in known})


def write_settings(settings: StudySettings, extra: dict[str, Any] | None = None) -> None:
    """Write ``study.json`` atomically: the settings plus the result fields (``extra``)."""
    path = settings.paths.study_json
    data = read_json(path) if path.is_file() else {}
    data.update(
        name=settings.name,
        storage=settings.storage,
        directions=settings.directions,
        objectives=settings.objectives,
        metric=settings.metric,
        sampler=settings.sampler,
        pruner=settings.pruner,
        n_trials=settings.n_trials,
        rounds=settings.rounds,
        settings=asdict(settings),
    )
    data.setdefault("best_trials", [])
    data.setdefault("importances", {})
    data.update(extra or {})
    atomic_write_json(path, data)


def create_optuna_study(
    storage: BaseStorage, settings: StudySettings, sampler: Any, pruner: Any
) -> optuna.Study:
    """Create the study in the storage, or join it when it exists (several machines cooperate)."""
    return optuna.create_study(
        storage=storage,
        study_name=settings.name,
        sampler=sampler,
        pruner=pruner,
        directions=settings.directions,  # type: ignore[arg-type]  # 'maximize' / 'minimize'
        load_if_exists=True,
    )


def load_optuna_study(
    storage: BaseStorage, name: str, sampler: Any = None, pruner: Any = None
) -> optuna.Study:
    """Load an existing study; a missing one is a :class:`ConfigError`."""
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise ConfigError(f"--resume: no study named {name!r} in the storage") from None


def _retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of trials that were retried (their retry took their place in the budget)."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))  # what RetryHeartbeatStaleTrialCallback records
    return out


def counted_trials(study: optuna.Study, round_index: int | None = None) -> list[optuna.trial.FrozenTrial]:
    """Trials that use up the budget: finished, running or waiting, minus those a retry replaced."""
    trials = study.get_trials(deepcopy=False)
    retried = _retried_numbers(trials)
    return [
        t
        for t in trials
        if t.number not in retried and (round_index is None or t.user_attrs.get("round", 0) == round_index)
    ]


def budget_left(study: optuna.Study, n_trials: int, round_index: int | None = None) -> int:
    """How many more trials to start so that the (round's) budget of ``n_trials`` is met."""
    counted = counted_trials(study, round_index)
    waiting = sum(t.state == TrialState.WAITING for t in counted)
    return max(n_trials - len(counted), 0) + waiting
