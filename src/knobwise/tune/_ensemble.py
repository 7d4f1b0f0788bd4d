"""``--top-k K --ensemble``: the K best trials' models as one ensemble (averaged probabilities),
evaluated on dev. Nothing is trained; the test split is not loaded.

Example:
    >>> import torch
    >>> average_probabilities([torch.zeros(2, 3), torch.zeros(2, 3)]).sum(1).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from knobwise.config import config_from_dict, read_yaml
from knobwise.data import prepare_data
from knobwise.device import resolve_device
from knobwise.errors import ConfigError, RunError
from knobwise.metrics import split_metrics
from knobwise.run import BaseRun
from knobwise.train import predict_logits
from knobwise.tune._output import best_trials
from knobwise.tune._paths import resolve_storage
from knobwise.tune._study import load_optuna_study, open_storage, read_settings, write_settings

__all__ = ["average_probabilities", "ensemble_top_k"]


def average_probabilities(logits: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the members' softmax probabilities."""
    return torch.stack([torch.softmax(z.float(), dim=1) for z in logits]).mean(0)


def ensemble_top_k(study_dir: str | Path, k: int, url: str | None = None) -> dict[str, Any]:
    """Evaluate the ensemble of the ``k`` best complete trials on dev; returns the members' and the
    ensemble's dev metrics (also stored as ``ensemble`` in ``study.json``)."""
    if k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {k}")
    settings = read_settings(Path(study_dir))
    study = load_optuna_study(
        open_storage(resolve_storage(url, study_dir, settings.storage), None, None), settings.name
    )
    best = best_trials(study, k)
    if not best:
        raise RunError(f"{study_dir}: the study has no complete trial to build an ensemble from")
    runs = [Path(t.user_attrs["run_dir"]) for t in best]
    configs = [read_yaml(r / "config.yaml") for r in runs]
    if any(c["data"] != configs[0]["data"] or c["seed"] != configs[0]["seed"] for c in configs):
        raise ConfigError("--ensemble: the best trials use different data settings; their dev sets differ")
    cfg = config_from_dict(configs[0])
    device = resolve_device(cfg.train.device)
    data = prepare_data(cfg.data, seed=cfg.seed, device=device, withhold=("test",))
    dev = data.splits["dev"]
    logits, members = [], []
    for t, run in zip(best, runs, strict=True):
        z = predict_logits(BaseRun(run, device=device).model, dev.x)
        logits.append(z)
        members.append({"number": t.number, "run_dir": str(run), "dev": split_metrics(z, dev.y)})
    probs = average_probabilities(logits)
    result = {"k": len(best), "members": members, "dev": split_metrics(probs.clamp_min(1e-12).log(), dev.y)}
    write_settings(settings, {"ensemble": result})
    return result
