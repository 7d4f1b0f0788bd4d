"""Several user attributes of a running trial in one storage write.

``Trial.set_user_attr`` is one transaction per key: on SQLite that is one commit (a file sync) per
key, a measurable share of a short trial. The RDB storage writes an attribute inside a session
that it commits once (``_set_trial_attr_without_commit``, what ``set_trial_user_attr`` itself
calls), so for an RDB storage the attributes of one moment of a trial (its start, its end) go in
one transaction; any other storage (journal, in-memory), or an Optuna without that method, gets
one ``set_user_attr`` per key, as before.

Example:
    >>> import optuna
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(storage="sqlite:///:memory:")
    >>> trial = study.ask()
    >>> set_user_attrs(trial, {"host": "h", "worker_pid": 7})
    >>> sorted(study.trials[0].user_attrs.items())
    [('host', 'h'), ('worker_pid', 7)]
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import RDBStorage

__all__ = ["set_user_attrs"]


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """Set ``attrs`` on the running ``trial``: one transaction on an RDB storage, else one per key."""
    backend = getattr(trial.storage, "_backend", trial.storage)  # Optuna wraps RDB in a read cache
    if isinstance(backend, RDBStorage) and len(attrs) > 1:
        try:
            # Private to Optuna: the commit-once session and attribute writer set_trial_user_attr uses.
            from optuna.storages._rdb import models
            from optuna.storages._rdb.storage import _create_scoped_session

            write = backend._set_trial_attr_without_commit
        except (ImportError, AttributeError):
            pass
        else:
            with _create_scoped_session(backend.scoped_session, True) as session:
                for key, value in attrs.items():
                    write(session, models.TrialUserAttributeModel, trial._trial_id, key, value)
            cached = getattr(trial, "_cached_frozen_trial", None)  # what trial.user_attrs reads
            if cached is not None:
                cached.user_attrs.update(attrs)
            return
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
