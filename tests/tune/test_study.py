"""Studies run in this process (one worker; each trial trains in a fresh child process)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from tune_helpers import TINY, write_space

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.select import load_table
from knobwise.tune import TuneRequest, ensemble_top_k, load_study_rows, prepare_study, run_study, run_worker
from knobwise.tune._output import best_trials, write_best_config
from knobwise.tune._study import read_settings


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(
        study_name=json.loads((out / "study.json").read_text())["name"],
        storage=f"sqlite:///{out / 'study.db'}",
    )


def _request(out: Path, space: str, **kw: object) -> TuneRequest:
    kw.setdefault("overrides", list(TINY))
    return TuneRequest(config=None, space=space, out=str(out), quiet=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sampler", "extra"),
    [
        ("tpe", {"overrides": [*TINY, 'evaluate.constraints=["params <= 1000"]']}),
        ("cmaes", {}),
        ("nsga2", {"objectives": ["accuracy:max", "latency_ms:min"]}),
        ("gp", {}),
        ("qmc", {}),
    ],
)
def test_each_sampler_runs_tiny_trials(tmp_path: Path, lr_space: str, sampler: str, extra: dict) -> None:
    out = tmp_path / sampler
    result = run_study(_request(out, lr_space, sampler=sampler, trials=2, **extra))
    study = _study(out)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert result["sampler"] == sampler and result["best_trials"]
    for t in study.trials:  # every trial is an ordinary run directory, recorded with the trial
        run = Path(t.user_attrs["run_dir"])
        assert run == out / "trials" / f"{t.number:04d}" and (run / "metrics.json").is_file()
        assert (
            t.user_attrs["epochs"] == 2
            and t.user_attrs["params_count"] > 0
            and t.user_attrs["duration_s"] > 0
        )
    if len(result["objectives"]) > 1:  # the Pareto front of accuracy and the latency measured per trial
        assert result["directions"] == ["maximize", "minimize"] and "values" in result["best_trials"][0]
        assert all(t.values[1] == t.user_attrs["latency_ms"] > 0 for t in study.trials)
    if sampler == "tpe":  # evaluate.constraints reach Optuna: params - 1000 > 0 is infeasible
        for t in study.trials:
            excess = t.user_attrs["params_count"] - 1000
            assert t.user_attrs["constraints"] == [excess] and excess > 0
            assert t.constraints == {"params <= 1000": excess}  # set with Trial.set_constraint
        assert result["best_trials"][0]["feasible"] is False


def test_grid_covers_exactly_its_grid(tmp_path: Path) -> None:
    grid = {"train.optimizer.lr": [0.003, 0.03], "train.batch_size": [16, 32]}
    out = tmp_path / "grid"
    result = run_study(_request(out, write_space(tmp_path, grid), sampler="grid"))
    assert result["n_trials"] == 4
    seen = sorted((t.params["train.optimizer.lr"], t.params["train.batch_size"]) for t in _study(out).trials)
    assert seen == sorted(itertools.product(grid["train.optimizer.lr"], grid["train.batch_size"]))
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert (best["train"]["optimizer"]["lr"], best["train"]["batch_size"]) in seen  # ready to train
    assert best["model"]["name"] == "mlp"


def test_best_config_is_rewritten_only_when_the_best_trial_changes(tmp_path: Path) -> None:
    grid = {"train.optimizer.lr": [0.003, 0.03], "train.batch_size": [16, 32]}
    out = tmp_path / "grid"
    run_study(_request(out, write_space(tmp_path, grid), sampler="grid"))
    settings, study = read_settings(out), _study(out)
    path = out / "best_config.yaml"
    best = best_trials(study)[0]
    assert path.read_text().startswith(f"# best trial {best.number} of study {settings.name} (")
    path.write_text(path.read_text() + "# untouched\n")
    write_best_config(settings, best)  # same best trial: the file stays as it is
    assert path.read_text().endswith("# untouched\n")
    other = next(t for t in study.trials if t.number != best.number)
    write_best_config(settings, other)  # another best: rewritten from the base config and its params
    assert path.read_text().startswith(f"# best trial {other.number} of study {settings.name} (")
    written = yaml.safe_load(path.read_text())
    assert written["train"]["optimizer"]["lr"] == other.params["train.optimizer.lr"]
    assert written["train"]["batch_size"] == other.params["train.batch_size"]


def test_pruning_stops_a_hopeless_trial(tmp_path: Path) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": {"low": 1e-8, "high": 0.1, "log": True}})
    req = _request(
        tmp_path / "p",
        space,
        sampler="random",
        pruner="median",
        trials=3,
        pruner_startup=2,
        overrides=[*TINY, "train.epochs=4"],
    )
    settings, url = prepare_study(req)
    study = optuna.load_study(study_name=settings.name, storage=url)
    for lr in (0.02, 0.03, 1e-8):  # two good runs, then one that cannot learn
        study.enqueue_trial({"train.optimizer.lr": lr})
    run_worker(settings, url)
    good1, good2, hopeless = _study(tmp_path / "p").trials
    assert good1.state == good2.state == TrialState.COMPLETE
    assert hopeless.state == TrialState.PRUNED
    assert hopeless.user_attrs["pruned_epoch"] < 4 == good1.user_attrs["epochs"]
    history = (Path(hopeless.user_attrs["run_dir"]) / "history.csv").read_text().strip().splitlines()
    assert len(history) - 1 == hopeless.user_attrs["pruned_epoch"]  # recorded with its last epoch


def test_refine_rounds_narrow_and_are_kept(tmp_path: Path) -> None:
    space = write_space(tmp_path, {"train.optimizer.lr": {"low": 1e-4, "high": 0.1, "log": True}})
    out = tmp_path / "r"
    result = run_study(
        _request(out, space, sampler="random", trials=3, refine=2, overrides=[*TINY, "train.epochs=1"])
    )
    r0, r1 = result["rounds"]
    lr0, lr1 = r0["space"]["train.optimizer.lr"], r1["space"]["train.optimizer.lr"]
    assert lr0["low"] <= lr1["low"] < lr1["high"] <= lr0["high"]
    assert lr1["high"] / lr1["low"] < lr0["high"] / lr0["low"]
    trials = _study(out).trials
    assert [t.user_attrs["round"] for t in trials] == [0, 0, 0, 1, 1, 1]
    for t in trials[3:]:
        assert lr1["low"] <= t.params["train.optimizer.lr"] <= lr1["high"]


def test_test_split_is_never_read(tmp_path: Path, lr_space: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    trace = tmp_path / "splits.txt"
    env = {**__import__("os").environ, "KNOBWISE_TRACE_SPLITS": str(trace)}
    args = [
        sys.executable,
        "-m",
        "knobwise",
        "tune",
        "--space",
        lr_space,
        "--out",
        str(tmp_path / "t"),
        "--trials",
        "2",
        "--sampler",
        "random",
        "-q",
    ]
    for item in TINY:
        args += ["--set", item]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    read = {line.split()[1] for line in trace.read_text().splitlines()}
    assert read == {"train", "dev"}
    # The instrumentation itself works: preparing the data outside a study reads the test split.
    monkeypatch.setenv("KNOBWISE_TRACE_SPLITS", str(trace))
    prepare_data(load_config(None, list(TINY)).data, seed=0)
    assert "test" in {line.split()[1] for line in trace.read_text().splitlines()}
    # ... and the study folder is usable: select reads it, the ensemble evaluates the best trials on dev.
    rows = load_study_rows(tmp_path / "t")
    assert [r["name"] for r in rows] == ["trial-0", "trial-1"]
    assert {"train.optimizer.lr", "dev.accuracy", "params", "run_dir"} <= set(rows[0])
    assert load_table(tmp_path / "t") == rows
    ens = ensemble_top_k(tmp_path / "t", 2)
    assert ens["k"] == 2 and 0.0 <= ens["dev"]["accuracy"] <= 1.0
    assert json.loads((tmp_path / "t" / "study.json").read_text())["ensemble"]["k"] == 2


def test_journal_storage_and_a_diverging_trial_fails_without_retry(tmp_path: Path) -> None:
    from knobwise.tune import open_storage

    space = write_space(tmp_path, {"train.optimizer.lr": {"low": 1e-3, "high": 1e12, "log": True}})
    url = f"journal:{tmp_path / 'journal.log'}"
    req = _request(tmp_path / "j", space, storage=url, sampler="random", trials=2,
                   overrides=[*TINY, "train.optimizer.name=sgd", "train.epochs=1"])  # fmt: skip
    settings, real_url = prepare_study(req)
    assert real_url == url and not (tmp_path / "j" / "study.db").exists()
    study = optuna.load_study(study_name=settings.name, storage=open_storage(url))
    study.enqueue_trial({"train.optimizer.lr": 0.01})
    study.enqueue_trial({"train.optimizer.lr": 1e12})  # diverges: non-finite loss
    run_worker(settings, url)
    ok, bad = optuna.load_study(study_name=settings.name, storage=open_storage(url)).trials
    assert ok.state == TrialState.COMPLETE
    assert bad.state == TrialState.FAIL and "non-finite training loss" in bad.user_attrs["fail_reason"]
    # two trials and no third: a trial that failed by itself is not retried
