"""Hyperparameter search with Optuna: search spaces, samplers, pruners, storages, parallel
workers, coarse-to-fine rounds, ensembles of the best trials.

A study turns a config plus a search space into trials that are ordinary run directories
(``studies/<name>/trials/NNNN``); the objective is the config's ``evaluate.metric`` on the dev
split, and the test split is never loaded while tuning.

Example:
    >>> from knobwise.tune import parse_space, list_samplers, list_pruners
    >>> parse_space({"train.batch_size": [16, 32]}).grid()
    {'train.batch_size': [16, 32]}
    >>> "tpe" in list_samplers() and "median" in list_pruners()
    True
"""

from knobwise.tune._data_cache import DataCache
from knobwise.tune._ensemble import average_probabilities, ensemble_top_k
from knobwise.tune._objective import Objective, Objectives, TrialFailed, train_trial, trial_dir
from knobwise.tune._options import StudyOptions
from knobwise.tune._output import best_trials, importances, live_table, write_results
from knobwise.tune._paths import STORAGE_ENV, StudyPaths, is_masked, mask_url, resolve_storage
from knobwise.tune._pruners import PRUNERS, create_pruner, list_pruners, register_pruner
from knobwise.tune._refine import best_params_of_round, narrow
from knobwise.tune._rows import is_study_dir, load_study_rows
from knobwise.tune._run import TuneRequest, parse_objectives, prepare_study, run_study
from knobwise.tune._samplers import SAMPLERS, create_sampler, list_samplers, register_sampler
from knobwise.tune._space import (
    Param,
    SearchSpace,
    check_against_config,
    config_with,
    load_space,
    parse_space,
)
from knobwise.tune._study import StudySettings, open_storage, read_settings
from knobwise.tune._workers import recover_interrupted, run_worker, spawn_workers, supervise_workers

__all__ = [
    "DataCache",
    "Objective",
    "Objectives",
    "PRUNERS",
    "Param",
    "SAMPLERS",
    "STORAGE_ENV",
    "SearchSpace",
    "StudyOptions",
    "StudyPaths",
    "StudySettings",
    "TrialFailed",
    "TuneRequest",
    "average_probabilities",
    "best_params_of_round",
    "best_trials",
    "check_against_config",
    "config_with",
    "create_pruner",
    "create_sampler",
    "ensemble_top_k",
    "importances",
    "is_masked",
    "is_study_dir",
    "list_pruners",
    "list_samplers",
    "live_table",
    "load_space",
    "load_study_rows",
    "mask_url",
    "narrow",
    "open_storage",
    "parse_objectives",
    "parse_space",
    "prepare_study",
    "read_settings",
    "recover_interrupted",
    "resolve_storage",
    "register_pruner",
    "register_sampler",
    "run_study",
    "run_worker",
    "spawn_workers",
    "supervise_workers",
    "train_trial",
    "trial_dir",
    "write_results",
]
