"""A worker runs many trials in its own process: same results as fresh runs, nothing kept between
trials, and a trial that crashes its process does not lose the study."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState
from tune_helpers import TINY, load_sqlite_study, tune_cmd, wait_for, write_space

from knobwise.config import config_from_dict, read_yaml
from knobwise.run import BaseRun, train_experiment
from knobwise.train import Trainer
from knobwise.tune import DataCache, TuneRequest, prepare_study, run_worker


def _history(trial: optuna.trial.FrozenTrial) -> list[str]:
    return (Path(trial.user_attrs["run_dir"]) / "history.csv").read_text().splitlines()


def test_one_process_many_trials_same_results_as_fresh_runs(tmp_path: Path) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": {"low": 1e-3, "high": 1e12, "log": True}})
    overrides = [*TINY, "train.optimizer.name=sgd", "train.epochs=2", "train.threads=1"]
    req = TuneRequest(config=None, space=space, out=str(tmp_path / "s"), sampler="random", trials=3,
                      overrides=overrides, quiet=True)  # fmt: skip
    settings, url = prepare_study(req)
    study = optuna.load_study(study_name=settings.name, storage=url)
    for lr in (0.05, 1e12, 0.05):  # a good trial, one that diverges (fails), the good one again
        study.enqueue_trial({"train.optimizer.lr": lr})
    threads = torch.get_num_threads()
    assert run_worker(settings, url) == 3
    first, bad, again = optuna.load_study(study_name=settings.name, storage=url).trials
    assert {t.user_attrs["worker_pid"] for t in (first, bad, again)} == {os.getpid()}  # one process
    assert torch.get_num_threads() == threads  # the trials' train.threads=1 was put back
    assert bad.state == TrialState.FAIL and "non-finite training loss" in bad.user_attrs["fail_reason"]
    assert first.state == again.state == TrialState.COMPLETE
    # The third trial ran after another trial and a failure, on the cached data: identical results.
    assert _same_but_time(first, again)
    # ... and identical to the same config trained on its own, data prepared from scratch.
    cfg = config_from_dict(read_yaml(Path(first.user_attrs["run_dir"]) / "config.yaml"))
    fresh = train_experiment(cfg, tmp_path / "fresh", quiet=True, withhold_splits=("test",))
    assert fresh.metrics["dev"]["accuracy"] == first.value
    del fresh
    gc.collect()  # nothing of the trials is still reachable: no trainer, no run (model, data)
    kept = [o for o in gc.get_objects() if isinstance(o, (Trainer, BaseRun))]
    assert not [o for o in kept if str(tmp_path) in str(getattr(o, "root", getattr(o, "checkpoint_dir", "")))]


def _same_but_time(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial) -> bool:
    """History rows equal except the per-epoch wall time column."""
    import csv
    import io

    rows = [list(csv.DictReader(io.StringIO("\n".join(_history(t))))) for t in (a, b)]
    strip = [[{k: v for k, v in r.items() if k != "time"} for r in rs] for rs in rows]
    return a.value == b.value and strip[0] == strip[1]


def test_data_cache_prepares_once_per_data_section_and_seed() -> None:
    from knobwise.config import load_config

    cache = DataCache(size=1)
    a = load_config(None, [*TINY, "train.optimizer.lr=0.01"])
    b = load_config(None, [*TINY, "train.optimizer.lr=0.02", "train.batch_size=16"])  # same data
    assert cache.get(a, ("test",)) is cache.get(b, ("test",))
    assert (cache.hits, cache.misses) == (1, 1)
    c = load_config(None, [*TINY, "seed=1"])  # another seed: another split
    d = load_config(None, [*TINY, "data.limit=200"])  # another data section
    assert cache.get(c, ("test",)) is not cache.get(a, ("test",))
    assert len(cache.get(d, ("test",)).splits["train"]) < len(cache.get(a, ("test",)).splits["train"])
    assert "test" not in cache.get(a, ("test",)).splits
    assert cache.misses == 5 and len(cache._items) == 1  # size 1: only the last is kept


def test_workers_killed_mid_trial_are_replaced_and_the_study_completes(tmp_path: Path, lr_space: str) -> None:
    out = tmp_path / "k"
    cmd = tune_cmd(lr_space, out, "--workers", "2", "--trials", "4", "--heartbeat", "1", "--grace", "3",
                   epochs=25)  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:

        def both_workers_mid_trial() -> list[optuna.trial.FrozenTrial] | None:
            study = load_sqlite_study(out)
            running = [
                t
                for t in (study.get_trials() if study is not None else [])
                if t.state == TrialState.RUNNING and t.intermediate_values and "worker_pid" in t.user_attrs
            ]
            return running if len({t.user_attrs["worker_pid"] for t in running}) == 2 else None

        victims = wait_for(both_workers_mid_trial)
        for t in victims:  # as a segfault or the OOM killer would: both worker processes die at once
            os.kill(t.user_attrs["worker_pid"], signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    study = load_sqlite_study(out)
    assert study is not None
    trials = {t.number: t for t in study.get_trials()}
    dead = {t.user_attrs["worker_pid"] for t in victims}
    for v in victims:
        assert trials[v.number].state == TrialState.FAIL and "fail_reason" not in trials[v.number].user_attrs
        retry = [t for t in trials.values() if t.system_attrs.get("failed_trial") == v.number]
        assert len(retry) == 1 and retry[0].params == v.params and retry[0].state == TrialState.COMPLETE
        assert retry[0].user_attrs["worker_pid"] not in dead  # in a fresh worker process
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 4
