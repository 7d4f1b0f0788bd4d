"""What a study shows and writes: the live table, the best trial(s), fANOVA importances,
``study.json`` results and ``best_config.yaml``.

Example:
    >>> fmt_value(0.98765), fmt_value(None), fmt_value([0.9, 12.5])
    ('0.9877', '-', '0.9 / 12.5')
"""

from __future__ import annotations

import importlib
import math
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from knobwise.config import config_from_dict, config_to_yaml, read_yaml
from knobwise.io import atomic_write_text
from knobwise.tune._fork import ForkedCall, can_fork, fork_call
from knobwise.tune._space import config_with
from knobwise.tune._study import StudySettings, load_optuna_study, open_storage, write_settings

__all__ = [
    "best_trials",
    "trial_summary",
    "importances",
    "start_importances",
    "write_results",
    "write_best_config",
    "live_table",
    "fmt_value",
]


def fmt_value(v: Any) -> str:
    """A short text for a value or a list of values."""
    if v is None:
        return "-"
    if isinstance(v, (list, tuple)):
        return " / ".join(fmt_value(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _feasible(t: FrozenTrial) -> bool:
    return all(c <= 0 for c in t.user_attrs.get("constraints", []))


def best_trials(study: optuna.Study, k: int = 5) -> list[FrozenTrial]:
    """The ``k`` best complete trials (one objective; feasible ones first), or the feasible
    Pareto front (several objectives)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return []
    if len(study.directions) > 1:
        front = study.best_trials  # the Pareto front
        return sorted([t for t in front if _feasible(t)] or front, key=lambda t: t.number)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return sorted(done, key=lambda t: (not _feasible(t), sign * float(t.values[0]), t.number))[:k]


def trial_summary(t: FrozenTrial) -> dict[str, Any]:
    """The ``best_trials`` entry of ``study.json``."""
    out: dict[str, Any] = {"number": t.number}
    if t.values is not None:
        out["values"] = list(t.values)
        if len(t.values) == 1:
            out["value"] = t.values[0]
    out["params"] = dict(t.params)
    out["run_dir"] = t.user_attrs.get("run_dir")
    for key in ("epochs", "duration_s", "params_count", "latency_ms", "constraints", "round"):
        if key in t.user_attrs:
            out[key] = t.user_attrs[key]
    out["feasible"] = _feasible(t)
    return out


def start_importances(settings: StudySettings, url: str) -> ForkedCall | None:
    """A forked process that imports the fANOVA machinery (``optuna.importance``: scikit-learn's
    forests, 1.5-2 s) while the trials run, and computes the study's importances at its end (None
    where this process may not fork: they are then computed here, at the end)."""
    if not can_fork():
        return None

    def compute() -> dict[str, float]:
        return importances(load_optuna_study(open_storage(url, None, None), settings.name))

    return fork_call(lambda: importlib.import_module("optuna.importance"), compute, nice=10)


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances of the parameters for the first objective ({} with too few trials)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2:
        return {}
    # optuna.importance imports scikit-learn's forests for fANOVA (1.5-2 s): only the study's end
    # pays it, not every worker process and trial that imports this module.
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = get_param_importances(
                study, evaluator=FanovaImportanceEvaluator(seed=0), target=lambda t: float(t.values[0])
            )
    except (RuntimeError, ValueError):
        return {}  # e.g. every parameter constant so far
    return {k: float(v) for k, v in result.items() if math.isfinite(v)}


def write_best_config(settings: StudySettings, best: FrozenTrial | None) -> None:
    """``best_config.yaml``: the base config with the best trial's parameters, ready to train."""
    if best is None:
        return
    header = f"# best trial {best.number} of study {settings.name} ({fmt_value(best.values)})\n"
    path = settings.paths.best_config
    if path.is_file():
        with path.open(encoding="utf-8") as f:
            if f.readline() == header:
                return  # the best trial did not change: the file is up to date (50 ms of YAML saved)
    base = read_yaml(settings.paths.config)
    cfg = config_from_dict(config_with(base, dict(best.params)))
    atomic_write_text(path, header + config_to_yaml(cfg))


def write_results(
    study: optuna.Study,
    settings: StudySettings,
    *,
    with_importances: bool = False,
    importances_from: ForkedCall | None = None,
) -> dict[str, Any]:
    """Rewrite ``study.json`` (best trials, counts, optionally importances: those of
    ``importances_from`` when it answers) and best_config.yaml."""
    best = best_trials(study)
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    extra: dict[str, Any] = {"best_trials": [trial_summary(t) for t in best], "states": states}
    if with_importances:
        computed = importances_from.result() if importances_from is not None else None
        extra["importances"] = computed if isinstance(computed, dict) else importances(study)
    write_settings(settings, extra)
    write_best_config(settings, best[0] if best else None)
    return extra


def _state_text(t: FrozenTrial) -> str:
    if t.state == TrialState.PRUNED:
        return f"PRUNED@{t.user_attrs.get('pruned_epoch', t.last_step)}"
    return t.state.name


def live_table(
    study: optuna.Study, settings: StudySettings, last: int = 12, width: int | None = None
) -> Table:
    """The table shown while a study runs: counts, the best so far, and the latest trials.

    Every value stays on one line: cells never wrap, and when the columns do not fit in
    ``width`` (the console's) the parameters that do not fit are left out, named in the caption.
    """
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    best = best_trials(study, 1)
    title = f"study {settings.name}: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    if best:
        title += f" | best #{best[0].number} = {fmt_value(best[0].values)}"
    names = [p for r in settings.rounds[-1:] for p in r["space"]]
    short = [n.rsplit(".", 1)[-1] for n in names]
    heads = short if len(set(short)) == len(short) else names  # the last part, when unambiguous
    shown = trials[-last:]
    columns: list[tuple[str, list[str]]] = [
        ("#", [str(t.number) for t in shown]),
        ("state", [_state_text(t) for t in shown]),
        ("/".join(settings.objectives), [fmt_value(t.values) for t in shown]),
        *((h, [fmt_value(t.params.get(n)) for t in shown]) for h, n in zip(heads, names, strict=True)),
        ("epochs", [fmt_value(t.user_attrs.get("epochs")) for t in shown]),
        ("s", [fmt_value(t.user_attrs.get("duration_s")) for t in shown]),
    ]
    keep, dropped = _fitting(columns, width, fixed=3)
    table = Table(title=title, caption=f"not shown (too narrow): {', '.join(dropped)}" if dropped else None)
    for head, _ in keep:
        table.add_column(
            head, justify="left" if head == "state" else "right", no_wrap=True, overflow="ignore"
        )
    for i in range(len(shown)):
        table.add_row(*(cells[i] for _, cells in keep))
    return table


def _fitting(
    columns: list[tuple[str, list[str]]], width: int | None, fixed: int
) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The columns that fit in ``width`` (each needs its widest cell + 3 for borders and padding);
    the first ``fixed`` always stay, the others are dropped from the right end of the parameters
    first, then epochs and seconds.

    >>> cols = [("#", ["1"]), ("a", ["0.008096"]), ("b", ["x" * 30]), ("s", ["1.5"])]
    >>> [h for h, _ in _fitting(cols, 30, fixed=1)[0]], _fitting(cols, 30, fixed=1)[1]
    (['#', 'a', 's'], ['b'])
    """
    need = [max([len(h), *(len(c) for c in cells)]) + 3 for h, cells in columns]
    if width is None or sum(need) + 1 <= width:
        return columns, []
    order = list(range(fixed, len(columns)))  # parameters, epochs, s: keep left to right
    keep = set(range(fixed))
    used = sum(need[i] for i in keep) + 1
    # The last two (epochs, seconds) are cheap and useful: try them before the parameters.
    for i in [*order[-2:], *order[:-2]]:
        if used + need[i] <= width:
            keep.add(i)
            used += need[i]
    return [c for i, c in enumerate(columns) if i in keep], [
        h for i, (h, _) in enumerate(columns) if i not in keep
    ]
