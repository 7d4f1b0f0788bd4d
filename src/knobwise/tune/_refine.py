"""Coarse-to-fine search: each round narrows the numeric ranges around the best trials of the
round before, so the promising region is sampled more densely.

For every numeric entry the new range spans the values of the round's best trials (the top
quarter, at least two), padded by a tenth of the old width on each side, and is at most
``shrink`` times the old width (centred on the best trial's value), always inside the old range.
Log-scale entries are narrowed in log space. Categorical entries keep their choices (Optuna
requires one distribution per parameter name within a study).

Example:
    >>> from knobwise.tune._space import parse_space
    >>> space = parse_space({"train.optimizer.lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True}})
    >>> new = narrow(space, [{"train.optimizer.lr": 1e-2}, {"train.optimizer.lr": 3e-2}])
    >>> 1e-5 < new.params[0].low < 1e-2 and 3e-2 < new.params[0].high < 1.0
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from knobwise.tune._space import Param, SearchSpace

__all__ = ["narrow", "best_params_of_round", "top_fraction"]

#: The share of a round's complete trials that defines the promising region.
top_fraction = 0.25


def _to(p: Param, v: float) -> float:
    return math.log10(v) if p.log else v


def _from(p: Param, v: float) -> float:
    return 10**v if p.log else v


def _narrow_param(p: Param, values: list[float], shrink: float) -> Param:
    assert p.low is not None and p.high is not None
    lo, hi = _to(p, p.low), _to(p, p.high)
    width = hi - lo
    if not values or width <= 0:
        return p
    pts = [_to(p, v) for v in values]
    pad = 0.1 * width
    new_lo, new_hi = max(lo, min(pts) - pad), min(hi, max(pts) + pad)
    if new_hi - new_lo > shrink * width:  # never keep more than `shrink` of the old range
        half = shrink * width / 2
        centre = min(max(pts[0], lo + half), hi - half)
        new_lo, new_hi = centre - half, centre + half
    low, high = _from(p, new_lo), _from(p, new_hi)
    if p.type == "int":
        low, high = float(math.floor(low)), float(math.ceil(high))
        step = p.step or 1
        low = p.low + math.floor((low - p.low) / step) * step  # stay on the step grid
        high = min(p.high, max(low, p.low + math.ceil((high - p.low) / step) * step))
    else:
        low, high = max(p.low, low), min(p.high, high)
    return replace(p, low=low, high=high)


def narrow(space: SearchSpace, best: Sequence[dict[str, Any]], shrink: float = 0.5) -> SearchSpace:
    """The space of the next round: numeric ranges around ``best`` (param dicts, best first)."""
    params = []
    for p in space.params:
        if not p.numeric:
            params.append(p)
            continue
        values = [float(b[p.path]) for b in best if p.path in b]
        params.append(_narrow_param(p, values, shrink))
    return space.with_params(params)


def best_params_of_round(study: optuna.Study, round_index: int) -> list[dict[str, Any]]:
    """Parameters of the round's best complete trials (by the first objective; feasible first)."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("round", 0) == round_index
    ]
    if not trials:
        return []
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0

    def key(t: optuna.trial.FrozenTrial) -> tuple[bool, float]:
        infeasible = any(c > 0 for c in t.user_attrs.get("constraints", []))
        return infeasible, sign * float(t.values[0])

    trials.sort(key=key)
    k = max(2, math.ceil(top_fraction * len(trials)))
    return [dict(t.params) for t in trials[:k]]
