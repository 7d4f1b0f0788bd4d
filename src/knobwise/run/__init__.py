"""The run: its directory's layout, training one, and loading one as an object.

A run directory holds ``config.yaml`` (resolved), ``history.csv``, ``metrics.json``,
``model.safetensors`` + ``model.json``, ``predictions.npz``, ``checkpoint/``, ``log.txt`` and the
report. :func:`train_experiment` writes one; :class:`BaseRun` reads one back (config, history,
metrics, model, predictions, data) and evaluates, predicts (:func:`predict`: files, folders,
``.npz``, arrays) and exports (:func:`export`: ONNX or TorchScript with the normalization inside,
verified by running the file) with it. :func:`train_population` trains seeds of one config
together (``RUN/members/k``) and :func:`write_ensemble` combines finished runs by :func:`vote`
into an ensemble run, which :class:`BaseRun` predicts with through its members. Everything above
this package reaches a run through :class:`BaseRun`.

Example:
    >>> from knobwise.run import RunPaths
    >>> RunPaths("runs/x").weights.name
    'model.safetensors'
"""

from knobwise.run._ensemble import VOTES, Member, ensemble_section, load_members, vote, write_ensemble
from knobwise.run._evaluate import evaluate_run, evaluate_splits, model_facts
from knobwise.run._export import EXPORT_FORMATS, ExportResult, check_images, export
from knobwise.run._inputs import NPZ_KEY, InputBatch, Inputs, load_inputs
from knobwise.run._layout import RunPaths, is_run, new_run_dir, open_run
from knobwise.run._normalized import NormalizedModel, normalizer_of
from knobwise.run._population import (
    PopulationResult,
    member_configs,
    population_key,
    train_members,
    train_population,
)
from knobwise.run._predict import Prediction, predict
from knobwise.run._record import record_latency
from knobwise.run._run import BaseRun, Evaluation, as_run, runs_of
from knobwise.run._train import HistoryWriter, finish_run, resume_config, train_experiment, training_seed

__all__ = [
    "EXPORT_FORMATS",
    "NPZ_KEY",
    "BaseRun",
    "ExportResult",
    "InputBatch",
    "Inputs",
    "NormalizedModel",
    "Prediction",
    "check_images",
    "export",
    "load_inputs",
    "normalizer_of",
    "predict",
    "record_latency",
    "Evaluation",
    "as_run",
    "runs_of",
    "HistoryWriter",
    "RunPaths",
    "evaluate_run",
    "evaluate_splits",
    "is_run",
    "model_facts",
    "new_run_dir",
    "open_run",
    "resume_config",
    "train_experiment",
    "finish_run",
    "training_seed",
    "VOTES",
    "Member",
    "ensemble_section",
    "load_members",
    "vote",
    "write_ensemble",
    "PopulationResult",
    "member_configs",
    "population_key",
    "train_members",
    "train_population",
]
