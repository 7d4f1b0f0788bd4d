"""The study report: optimization history, parallel coordinates, parameter importances, the
Pareto front of a multi-objective study, and the best trials linked to their run reports.

A study directory holds ``study.json`` (name, storage URL, directions, objectives, metric,
sampler, pruner, best trials, importances, rounds; the settings may sit under ``"settings"``),
the Optuna storage (``study.db`` by default) and one run directory per trial under ``trials/``.
The trials are read from the storage; if it cannot be opened, the report shows what
``study.json`` records and says so.

Example (a study written by ``knobwise tune``)::

    write_study_report("studies/lr-search")  # -> Path("studies/lr-search/report.html")
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from knobwise.errors import RunError
from knobwise.io import atomic_write_text
from knobwise.report import _plots
from knobwise.report._compare import relative_link
from knobwise.report._render import render_page
from knobwise.report._sections import Link, Section, Table, dict_table, fmt
from knobwise.tune import StudyPaths, is_masked, is_study_dir, resolve_storage

__all__ = ["read_study_json", "write_study_report"]

_MAX_TRIAL_ROWS = 200


def read_study_json(study_dir: Path) -> dict[str, Any]:
    """``study.json`` with its ``settings`` (if nested) merged into the top level."""
    path = StudyPaths(study_dir).study_json
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object")
    nested = data.get("settings")
    settings: dict[str, Any] = nested if isinstance(nested, dict) else {}
    return {**settings, **{k: v for k, v in data.items() if k != "settings"}}


def _load_trials(study_dir: Path, info: dict[str, Any]) -> tuple[list[Any], str | None]:
    """The study's frozen trials from its storage, or ``([], why)``."""
    # lazy: optuna (about 0.5 s) loads only for a study's report
    import optuna

    url = resolve_storage(None, study_dir, info.get("storage") or "")
    if not url or is_masked(url):
        return [], "the study's storage URL is not recorded (or its password is masked): trials not read"
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.load_study(study_name=info.get("name"), storage=url)
            return list(study.get_trials(deepcopy=False)), None
    except Exception as exc:  # unreachable server, wrong name: the JSON summary still reports
        return [], f"could not read the trials from the storage ({type(exc).__name__}: {exc})".splitlines()[0]


def _run_link(run_dir: Any, study_dir: Path, page: Path, text: str) -> Any:
    if not run_dir:
        return text
    root = Path(run_dir)
    if not root.is_absolute() and not root.exists():
        root = study_dir / root
    report = root / "report.html"
    return Link(text, relative_link(report, page)) if report.is_file() else text


def _objective_names(info: dict[str, Any], n: int) -> list[str]:
    names = [str(o) for o in info.get("objectives") or []]
    if len(names) < n:
        names = [str(info.get("metric") or "objective")] if n == 1 else [f"objective {i}" for i in range(n)]
    return names[:n]


def _trial_rows(trials: list[Any], study_dir: Path, page: Path, names: list[str]) -> Table:
    rows: list[list[Any]] = []
    for t in trials[:_MAX_TRIAL_ROWS]:
        run_dir = t.user_attrs.get("run_dir") or StudyPaths(study_dir).trial(t.number)
        values = [fmt(v) for v in t.values] if t.values else ["—"] * len(names)
        params = ", ".join(f"{k}={fmt(v)}" for k, v in t.params.items())
        rows.append([_run_link(run_dir, study_dir, page, f"#{t.number}"), t.state.name, *values, params])
    caption = (
        None if len(trials) <= _MAX_TRIAL_ROWS else f"the first {_MAX_TRIAL_ROWS} of {len(trials)} trials"
    )
    return Table(["trial", "state", *names, "parameters"], rows, caption)


def _plots_of(trials: list[Any], info: dict[str, Any], names: list[str]) -> Section:
    s = Section("search", "Search plots")
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values]
    directions = [str(d).lower() for d in info.get("directions") or ["maximize"]]
    if not done:
        s.note("no completed trials yet: nothing to plot")
        return s
    maximize = directions[0].startswith("max")
    s.figures.append(
        _plots.optimization_history([t.number for t in done], [t.values[0] for t in done], maximize, names[0])
    )
    if len(done) >= 2 and any(t.params for t in done):
        s.figures.append(
            _plots.parallel_coordinates([t.params for t in done], [t.values[0] for t in done], names[0])
        )
    else:
        s.note("parallel coordinates need at least two completed trials with parameters")
    if len(names) == 2:
        v = np.asarray([t.values for t in done], dtype=float)
        signs = np.asarray([1.0 if d.startswith("max") else -1.0 for d in directions[:2]])
        better = v * signs  # both objectives as "larger is better"
        front = np.asarray(
            [not np.any(np.all(better >= b, axis=1) & np.any(better > b, axis=1)) for b in better]
        )
        s.figures.append(_plots.pareto_front(v, front, names, [t.number for t in done]))
    return s


def _importances(
    trials: list[Any], info: dict[str, Any], study_dir: Path, names: list[str] | None = None
) -> Section:
    s = Section("importances", "Parameter importances")
    imp = info.get("importances")
    if not imp:
        s.note("no parameter importances recorded in study.json (they need at least two completed trials)")
        return s
    if names and len(names) > 1:
        # fANOVA explains one objective at a time; the study computes them for the first.
        s.note(
            f"importances for the first objective, {names[0]} (not for {', '.join(names[1:])}): "
            "the share of its variance each parameter explains"
        )
    s.figures.append(
        _plots.importance_bars({str(k): float(v) for k, v in imp.items()}, names[0] if names else None)
    )
    return s


def write_study_report(study_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the study in ``study_dir`` to ``out`` (default ``STUDY/report.html``)."""
    root = Path(study_dir)
    if not is_study_dir(root):
        raise RunError(f"{root}: not a knobwise study (no study.json)")
    info = read_study_json(root)
    page = Path(out) if out is not None else root / "report.html"
    trials, why = _load_trials(root, info)
    n_obj = len(info.get("directions") or []) or (len(trials[0].values) if trials and trials[0].values else 1)
    names = _objective_names(info, n_obj)

    summary = Section("summary", "Study")
    summary.add_items(
        [
            (
                "objectives",
                ", ".join(
                    f"{n} ({d})" for n, d in zip(names, info.get("directions") or ["?"] * n_obj, strict=False)
                ),
            ),
            ("sampler", info.get("sampler")),
            ("pruner", info.get("pruner")),
            ("trials asked for", info.get("n_trials")),
            ("trials by state", ", ".join(f"{k}: {v}" for k, v in _states(trials, info).items()) or None),
            ("constraints", info.get("constraints") or None),
        ]
    )
    if why:
        summary.note(why)
    best = Section("best", "Best trials")
    best_rows: list[list[Any]] = []
    for b in info.get("best_trials") or []:
        values = b.get("values") if b.get("values") is not None else [b.get("value")]
        params = ", ".join(f"{k}={fmt(v)}" for k, v in (b.get("params") or {}).items())
        best_rows.append(
            [
                _run_link(b.get("run_dir"), root, page, f"#{b.get('number')}"),
                *[fmt(v) for v in values],
                params,
            ]
        )
    if best_rows:
        best.tables.append(Table(["trial", *names, "parameters"], best_rows))
    else:
        best.note("study.json lists no best trials yet")
    sections = [summary, best, _plots_of(trials, info, names), _importances(trials, info, root, names)]
    if info.get("rounds"):
        rounds = Section("rounds", "Coarse-to-fine rounds")
        rows = info["rounds"]
        rounds.tables.append(dict_table([r if isinstance(r, dict) else {"round": r} for r in rows]))
        sections.append(rounds)
    all_trials = Section("trials", "All trials")
    if trials:
        all_trials.tables.append(_trial_rows(trials, root, page, names))
    else:
        all_trials.note("no trials to list")
    sections.append(all_trials)
    header = [("study", str(info.get("name"))), ("metric", str(info.get("metric") or names[0]))]
    atomic_write_text(page, render_page(str(info.get("name") or root.name), "study", sections, header))
    return page


def _states(trials: list[Any], info: dict[str, Any]) -> dict[str, int]:
    if not trials:
        return dict(info.get("states") or {})
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out
