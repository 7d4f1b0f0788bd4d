"""A study as a candidate table: one row per complete trial, for ``knobwise select STUDY``.

Example:
    >>> is_study_dir(Path("no/such/study"))
    False
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from knobwise.errors import RunError
from knobwise.select import flatten, register_table_loader
from knobwise.tune._paths import STORAGE_ENV, StudyPaths, is_masked, resolve_storage
from knobwise.tune._study import load_optuna_study, open_storage, read_settings

__all__ = ["load_study_rows", "is_study_dir"]


def is_study_dir(path: Path) -> bool:
    """Whether ``path`` is a study directory (it holds ``study.json``)."""
    return path.is_dir() and StudyPaths(path).exists()


def _row(t: optuna.trial.FrozenTrial, objectives: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"name": f"trial-{t.number}", "number": t.number}
    row.update(t.params)
    for name, value in zip(objectives, t.values or [], strict=False):
        row[name if name.startswith("dev.") or "." in name else f"objective.{name}"] = value
    row["value"] = t.values[0] if t.values else None
    row.update(flatten(t.user_attrs.get("dev", {}), "dev."))
    row["params"] = t.user_attrs.get("params_count")
    for key in ("latency_ms", "epochs", "duration_s", "round"):
        if key in t.user_attrs:
            row[key] = t.user_attrs[key]
    row["run_dir"] = t.user_attrs.get("run_dir")
    return row


def load_study_rows(study_dir: str | Path) -> list[dict[str, Any]]:
    """One row per COMPLETE trial: ``name`` (``trial-N``), the parameters (by config path), the
    objective values, dev metrics as ``dev.accuracy`` ..., ``params``, ``latency_ms``, ``run_dir``.

    The storage URL comes from ``study.json`` (or ``$KNOBWISE_TUNE_STORAGE`` when it holds a password).
    """
    root = Path(study_dir)
    settings = read_settings(root)
    url = resolve_storage(None, root, settings.storage)
    if is_masked(url):
        raise RunError(f"{root}: the study's storage needs a password; set ${STORAGE_ENV} to its URL")
    study = load_optuna_study(open_storage(url, None, None), settings.name)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise RunError(f"{root}: the study has no complete trial yet")
    return [_row(t, settings.objectives) for t in done]


register_table_loader("study", is_study_dir, load_study_rows)
