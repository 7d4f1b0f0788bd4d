"""The samplers a study can use, by name: thin factories around Optuna's samplers.

Every factory takes the same keyword arguments (the space, the seed, the number of objectives and
trials) and uses what its sampler supports. Constraints are set on each finished trial with
``Trial.set_constraint`` (Optuna 5); TPE, NSGA-II and GP sample with them, and with the other
samplers they are honoured when the best trials are chosen.

Example:
    >>> from knobwise.tune import parse_space
    >>> space = parse_space({"train.batch_size": [16, 32]})
    >>> type(create_sampler("grid", space=space, seed=0)).__name__
    'GridSampler'
    >>> list_samplers()
    ['cmaes', 'gp', 'grid', 'nsga2', 'qmc', 'random', 'tpe']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from knobwise.errors import ConfigError
from knobwise.registry import Registry
from knobwise.tune._space import SearchSpace

__all__ = ["SAMPLERS", "register_sampler", "create_sampler", "list_samplers", "supports_constraints"]

SamplerFactory = Callable[..., BaseSampler]

SAMPLERS: Registry[SamplerFactory] = Registry("sampler", key="--sampler")
register_sampler = SAMPLERS.register

#: Samplers whose Optuna class samples with the trials' constraints.
_CONSTRAINED = {"tpe", "nsga2", "gp"}


def supports_constraints(name: str) -> bool:
    """Whether the sampler ``name`` passes constraints to Optuna."""
    return name in _CONSTRAINED


def _startup(n_trials: int | None) -> int:
    # Model-based samplers start with random trials; a third of a small budget, at most 10.
    return max(2, min(10, (n_trials or 30) // 3))


@register_sampler("grid")
def _grid(*, space: SearchSpace, seed: int | None = None, **_: Any) -> BaseSampler:
    return optuna.samplers.GridSampler(space.grid(), seed=seed)


@register_sampler("random")
def _random(*, seed: int | None = None, **_: Any) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


@register_sampler("tpe")
def _tpe(
    *,
    seed: int | None = None,
    n_trials: int | None = None,
    **_: Any,
) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=_startup(n_trials), multivariate=True)


@register_sampler("cmaes")
def _cmaes(*, seed: int | None = None, n_objectives: int = 1, **_: Any) -> BaseSampler:
    if n_objectives > 1:
        raise ConfigError(
            "--sampler cmaes: CMA-ES optimizes one objective; use nsga2 or tpe with --objectives"
        )
    # Categorical entries are sampled at random (CMA-ES only handles numbers).
    return optuna.samplers.CmaEsSampler(
        seed=seed,
        n_startup_trials=1,
        independent_sampler=optuna.samplers.RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )


@register_sampler("nsga2")
def _nsga2(
    *,
    seed: int | None = None,
    n_trials: int | None = None,
    **_: Any,
) -> BaseSampler:
    population = max(4, min(50, (n_trials or 100) // 4))
    return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)


@register_sampler("gp")
def _gp(
    *,
    seed: int | None = None,
    n_trials: int | None = None,
    **_: Any,
) -> BaseSampler:
    return optuna.samplers.GPSampler(
        seed=seed,
        n_startup_trials=_startup(n_trials),
        warn_independent_sampling=False,
    )


@register_sampler("qmc")
def _qmc(*, seed: int | None = None, **_: Any) -> BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(
            qmc_type="sobol",
            scramble=True,
            seed=seed if seed is not None else 0,
            warn_independent_sampling=False,
        )


def create_sampler(
    name: str,
    *,
    space: SearchSpace,
    seed: int | None = None,
    n_objectives: int = 1,
    n_trials: int | None = None,
) -> BaseSampler:
    """The Optuna sampler called ``name`` (unknown names list the close ones)."""
    factory = SAMPLERS.get(name)
    if name == "grid":
        space.grid()  # a continuous range is a ConfigError before anything runs
    return factory(
        space=space,
        seed=seed,
        n_objectives=n_objectives,
        n_trials=n_trials,
    )


def list_samplers(pattern: str = "*") -> list[str]:
    """Names of the registered samplers."""
    return SAMPLERS.names(pattern)
