"""Tracking: what TensorBoard's and MLflow's own readers return equals the run's own files.

MLflow imports slowly, so the MLflow tests are few: a tracked run (resumed once), a store that
fails or is locked in the middle of a run, and small studies (3 trials; a pruned trial; two
objectives; two workers sharing one SQLite database).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

import knobwise as kw
from knobwise.cli import main
from knobwise.config import load_config
from knobwise.errors import ConfigError
from knobwise.track import final_scalars, flatten
from knobwise.train import Callback, Trainer

TINY = ["model.name=mlp", "model.options.hidden=[32]", "data.limit=300", "train.batch_size=32"]


def sets(*items: str) -> list[str]:
    return [arg for item in [*TINY, *items] for arg in ("--set", item)]


def history(run: Path) -> list[dict[str, Any]]:
    """history.csv with numbers as numbers (text columns such as knob_change dropped)."""
    rows = []
    for row in csv.DictReader((run / "history.csv").open()):
        out = {}
        for k, v in row.items():
            try:
                out[k] = float(v)
            except ValueError:
                continue
        rows.append(out)
    return rows


def scalar_columns(rows: list[dict[str, Any]]) -> list[str]:
    return [k for k in rows[0] if k != "epoch"]


def events(log_dir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_track_config_switches_and_errors() -> None:
    cfg = load_config(None, ["track.tensorboard=true", "track.mlflow.experiment=ladder"])
    assert cfg.track.tensorboard is not None and cfg.track.tensorboard.dir is None
    assert cfg.track.mlflow is not None and cfg.track.mlflow.experiment == "ladder"
    assert load_config(None, ["track.mlflow=false"]).track.mlflow is None
    assert not load_config(None).track.enabled
    with pytest.raises(
        ConfigError, match=r"track.tensorboard must be true, false or a mapping of options, got 3"
    ):
        load_config(None, ["track.tensorboard=3"])
    with pytest.raises(
        ConfigError, match=r"track.mlflow.uri: unknown key; did you mean 'track.mlflow.tracking_uri'"
    ):
        load_config(None, ["track.mlflow.uri=sqlite:///x.db"])


@pytest.mark.parametrize(
    ("module", "key", "extra"),
    [("mlflow", "track.mlflow", "mlflow"), ("torch.utils.tensorboard", "track.tensorboard", "tensorboard")],
)
def test_missing_package_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    key: str,
    extra: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra looks like
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--quiet", *sets(f"{key}=true")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f'{key} needs the {extra} package: pip install "knobwise[{extra}]"' in err[0]
    assert not run.exists(), "bad input leaves nothing half-written"
    space = tmp_path / "space.yaml"
    space.write_text("train.batch_size: [16, 32]\n")
    assert (
        main(["tune", "--space", str(space), "--out", str(tmp_path / "st"), "-q", *sets(f"{key}=true")]) == 2
    )
    assert f'pip install "knobwise[{extra}]"' in capsys.readouterr().err
    assert not (tmp_path / "st").exists()


def test_run_tracked_equals_history_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both trackers on a run trained for one epoch and resumed for a second: TensorBoard's
    EventAccumulator and MlflowClient return history.csv, metrics.json and config.yaml."""
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # the default tracking URI is sqlite:///mlruns.db in the working folder
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--quiet", *sets("train.epochs=1", "track.tensorboard=true")]
    assert main([*args, "--set", "track.mlflow.experiment=tracked"]) == 0
    assert main(["train", "--resume", str(run), "--quiet", "--set", "train.epochs=2"]) == 0
    rows = history(run)
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    metrics = json.loads((run / "metrics.json").read_text())

    acc = events(run / "tensorboard")
    for col in scalar_columns(rows):
        got = [(e.step, e.value) for e in acc.Scalars(col)]
        assert got == [(int(r["epoch"]), pytest.approx(r[col], rel=1e-6)) for r in rows], col
    assert acc.Scalars("final/dev/accuracy")[-1].value == pytest.approx(metrics["dev"]["accuracy"], rel=1e-6)
    assert acc.Scalars("final/test/loss")[-1].value == pytest.approx(metrics["test"]["loss"], rel=1e-6)
    with Image.open(run / "figures" / "confusion_dev.png") as png:
        image = acc.Images("confusion_matrix/dev")[-1]
        assert (image.width, image.height) == png.size
    assert acc.Images("misclassified/dev")
    assert acc.Graph() is not None  # the MLP traces

    assert (tmp_path / "mlruns.db").is_file()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("tracked")
    (found,) = client.search_runs([exp.experiment_id])
    run_id = json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"]
    assert found.info.run_id == run_id and found.info.status == "FINISHED"  # the resume continued it
    assert found.data.tags["knobwise.run_dir"] == str(run.resolve())
    assert found.data.tags["knobwise.knob_change.epoch_2"] == "train.epochs=2"  # the resume's change
    for col in scalar_columns(rows):
        got = [(m.step, m.value) for m in client.get_metric_history(run_id, col)]
        assert sorted(got) == [(int(r["epoch"]), r[col]) for r in rows], col
    final = final_scalars(metrics)
    assert "dev.macro.f1" in final and "objective.value" in final
    assert {k: found.data.metrics[k] for k in final} == final
    # Parameters are the config the run started with (the resume changed train.epochs only).
    config = flatten(yaml.safe_load((run / "config.yaml").read_text()))
    config["train.epochs"] = 1
    assert found.data.params == {k: param_text(v) for k, v in config.items()}
    artifacts = {f.path for f in client.list_artifacts(run_id)}
    assert {
        "report.html",
        "model.safetensors",
        "model.json",
        "config.yaml",
        "metrics.json",
        "figures",
    } <= artifacts
    assert "figures/confusion_dev.png" in {f.path for f in client.list_artifacts(run_id, "figures")}
    assert Path(exp.artifact_location.removeprefix("file://")).parent == tmp_path  # beside mlruns.db


class _DeleteMlflowRun(Callback):
    """After the first epoch the MLflow run disappears from under the tracker (as when its store
    is cleaned up or stops accepting writes): the next write fails."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        from mlflow import MlflowClient

        if epoch == 0:
            run_id = json.loads((Path(trainer.checkpoint_dir).parent / "tracking.json").read_text())[
                "mlflow"
            ]["run_id"]
            MlflowClient(self.uri).delete_run(run_id)


def test_tracking_failures_are_warnings_and_the_run_survives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unwritable TensorBoard folder, and an MLflow run that cannot be written to after the
    first epoch: the run finishes with all its files, and log.txt says what was not tracked."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    overrides = [
        *TINY,
        "train.epochs=3",
        f"track.tensorboard.dir={blocker}/tb",
        f"track.mlflow.tracking_uri={uri}",
    ]
    result = kw.train(
        load_config(None, overrides), out=tmp_path / "run", quiet=True, callbacks=[_DeleteMlflowRun(uri)]
    )
    run = result.root
    assert len(history(run)) == 3
    for name in ("metrics.json", "model.safetensors", "report.html"):
        assert (run / name).is_file(), name
    log = (run / "log.txt").read_text()
    assert "warning: tensorboard tracking failed while opening" in log and "Not a directory" in log
    assert "warning: mlflow tracking failed while logging epoch 1 (MlflowException" in log
    assert log.count("warning:") == 2  # each tracker warns once and then stays off
    assert "Traceback" not in capsys.readouterr().err  # MLflow's own error dump stays off the console


class _LockDatabase(Callback):
    """At the end of the second epoch (before the trackers, which come last) another connection
    takes an exclusive lock on the SQLite file, as a second program writing to it would, and
    holds it until the test releases it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock: sqlite3.Connection | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            self.lock = sqlite3.connect(self.path, isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")


def test_locked_database_is_one_warning_and_the_run_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MLflow SQLite database locked from epoch 2 on: the write gives up after MLflow's busy
    wait (shortened to SQLITE_BUSY_TIMEOUT_MS), the run finishes with all its files, and log.txt
    has one warning line; what was logged before the lock is in MLflow."""
    from mlflow import MlflowClient

    from knobwise.track._mlflow import SQLITE_BUSY_TIMEOUT_MS

    assert SQLITE_BUSY_TIMEOUT_MS <= 2000
    db = tmp_path / "ml.db"
    locker = _LockDatabase(db)
    overrides = [*TINY, "train.epochs=3", f"track.mlflow.tracking_uri=sqlite:///{db}"]
    try:
        result = kw.train(load_config(None, overrides), out=tmp_path / "run", quiet=True, callbacks=[locker])
    finally:
        if locker.lock is not None:
            locker.lock.execute("ROLLBACK")
            locker.lock.close()
    run = result.root
    assert locker.lock is not None and len(history(run)) == 3
    for name in ("metrics.json", "model.safetensors", "report.html"):
        assert (run / name).is_file(), name
    warnings = [line for line in (run / "log.txt").read_text().splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: mlflow tracking failed while logging epoch 2 (MlflowException")
    assert "database is locked" in warnings[0]
    assert "Traceback" not in capsys.readouterr().err
    run_id = json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"]
    logged = MlflowClient(f"sqlite:///{db}").get_metric_history(run_id, "val_accuracy")
    assert [(m.step, m.value) for m in logged] == [(1, history(run)[0]["val_accuracy"])]


def test_study_tracked_equals_optuna_and_trial_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3-trial study with both trackers: one MLflow parent run with a nested run per trial
    (sampled values, objective, intermediate values, run directory) and a TensorBoard hparams
    session per trial, equal to what Optuna and the trials' own files hold."""
    import optuna
    from mlflow import MlflowClient
    from tensorboard.plugins.hparams import plugin_data_pb2

    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.yaml"
    space.write_text(
        "train.optimizer.lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}\n"
        "train.batch_size: [16, 32]\n"
    )
    track = ["track.tensorboard.dir=tb", "track.mlflow.experiment=study-1"]
    cmd = [
        "tune",
        "--space",
        str(space),
        "--out",
        "st",
        "--study",
        "s1",
        "--sampler",
        "random",
        "--trials",
        "3",
    ]
    assert main([*cmd, "-q", *sets("train.epochs=2", *track)]) == 0
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{tmp_path / 'st' / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("study-1")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.run_name == "s1" and parent.info.status == "FINISHED"
    assert parent.data.tags["knobwise.study_dir"] == str((tmp_path / "st").resolve())
    assert parent.data.params["sampler"] == "random" and parent.data.params["n_trials"] == "3"
    assert parent.data.metrics["best_value"] == study.best_value
    chart = client.get_metric_history(parent.info.run_id, "objective")
    assert sorted((m.step, m.value) for m in chart) == [(t.number, t.value) for t in trials]
    assert "study.json" in {f.path for f in client.list_artifacts(parent.info.run_id)}
    nested = {
        int(r.data.tags["knobwise.trial"]): r
        for r in runs
        if r is not parent and r.info.run_id != parent.info.run_id
    }
    assert sorted(nested) == [0, 1, 2]
    for t in trials:
        r, run_dir = nested[t.number], tmp_path / t.user_attrs["run_dir"]
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert r.data.tags["knobwise.run_dir"] == str(run_dir.resolve())
        assert r.data.tags["knobwise.trial_state"] == "COMPLETE" and r.info.status == "FINISHED"
        assert r.data.params == {k: param_text(v) for k, v in t.params.items()}
        assert r.data.metrics["objective"] == t.value
        inter = client.get_metric_history(r.info.run_id, "intermediate_value")
        assert sorted((m.step, m.value) for m in inter) == sorted(t.intermediate_values.items())
        rows = history(run_dir)
        for col in ("loss", "val_accuracy", "lr"):
            got = sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, col))
            assert got == [(int(row["epoch"]), row[col]) for row in rows], col
        final = final_scalars(json.loads((run_dir / "metrics.json").read_text()))
        assert "test.accuracy" not in final  # tuning never loads the test split
        assert {k: r.data.metrics[k] for k in final} == final

        acc = events(tmp_path / "tb" / "s1" / f"{t.number:04d}")
        assert [(e.step, e.value) for e in acc.Scalars("val_accuracy")] == [
            (int(row["epoch"]), pytest.approx(row["val_accuracy"], rel=1e-6)) for row in rows
        ]
        assert acc.Scalars("objective")[-1].value == pytest.approx(t.value, rel=1e-6)
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = {k: v.number_value for k, v in start.session_start_info.hparams.items()}
        assert hparams == pytest.approx({k: float(v) for k, v in t.params.items()})
        end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
        assert end.session_end_info.status == 1  # STATUS_SUCCESS


def test_study_tracking_failure_is_a_warning_and_leaves_the_trial_folder_alone(tmp_path: Path) -> None:
    """An MLflow store that cannot be opened: the parent run is not created, trials get no
    MLflow run (their training goes on), and the warning goes to the study's tracking.log, never
    into a trial folder (which must not exist before the trial's run starts)."""
    from knobwise.track import study_tracking

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    base = {"track": {"mlflow": {"tracking_uri": f"sqlite:///{blocker}/ml.db"}}}
    study_dir = tmp_path / "st"
    tracking = study_tracking(base, study_dir, "s1", {})
    assert tracking is not None
    assert tracking.start({"sampler": "random"}) == {}
    context = tracking.begin_trial(0, {"train.batch_size": 16}, study_dir / "trials" / "0000")
    assert context.mlflow_run_id is None and context.tensorboard_name == "s1/0000"
    assert not (study_dir / "trials").exists()
    log = (study_dir / "tracking.log").read_text()
    assert log.startswith("warning: mlflow tracking failed while opening the study's parent run (")
    assert log.count("warning:") == 1


def nested_runs(client: Any, experiment: str) -> tuple[Any, dict[int, Any]]:
    """The study's parent run and its nested runs by trial number (each trial at most once)."""
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    nested: dict[int, Any] = {}
    for r in runs:
        if r.info.run_id != parent.info.run_id:
            assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
            number = int(r.data.tags["knobwise.trial"])
            assert number not in nested, f"trial {number} has two MLflow runs"
            nested[number] = r
    return parent, nested


SPACE = "train.optimizer.lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}\n"


def tune_args(tmp_path: Path, name: str, trials: int, *extra: str) -> list[str]:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = ["tune", "--space", str(space), "--out", name, "--study", name, "--sampler", "random"]
    return [*out, "--trials", str(trials), "-q", *extra]


def test_pruned_trial_is_marked_and_keeps_its_intermediate_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pruner that surely prunes trial 0 at epoch 2 (of 3): its nested MLflow run is KILLED
    with the PRUNED state and holds the intermediate values and epochs up to the pruning step;
    trial 1 completes beside it."""
    import optuna
    from mlflow import MlflowClient
    from tensorboard.plugins.hparams import plugin_data_pb2

    from knobwise.tune._pruners import PRUNERS

    class PruneTrial0(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return trial.number == 0 and (trial.last_step or 0) >= 2

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PRUNERS._entries, "prune0", lambda **_: PruneTrial0())
    track = ["track.tensorboard.dir=tb", "track.mlflow.experiment=pruned"]
    assert main([*tune_args(tmp_path, "sp", 2, "--pruner", "prune0"), *sets("train.epochs=3", *track)]) == 0
    study = optuna.load_study(study_name="sp", storage=f"sqlite:///{tmp_path / 'sp' / 'study.db'}")
    trials = study.get_trials()
    states = optuna.trial.TrialState
    assert [t.state for t in trials] == [states.PRUNED, states.COMPLETE]

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    _, nested = nested_runs(client, "pruned")
    assert sorted(nested) == [0, 1]
    assert nested[1].info.status == "FINISHED" and nested[1].data.metrics["objective"] == trials[1].value
    for t in trials[:1]:
        r = nested[t.number]
        assert r.info.status == "KILLED" and r.data.tags["knobwise.trial_state"] == "PRUNED"
        assert "objective" not in r.data.metrics  # a pruned trial has no objective value
        inter = client.get_metric_history(r.info.run_id, "intermediate_value")
        assert sorted((m.step, m.value) for m in inter) == sorted(t.intermediate_values.items())
        assert sorted(t.intermediate_values) == [1, 2]  # epochs 1 and 2; pruned at 2
        rows = history(tmp_path / t.user_attrs["run_dir"])
        got = sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, "val_accuracy"))
        assert got == [(int(row["epoch"]), row["val_accuracy"]) for row in rows] and len(rows) == 2
        acc = events(tmp_path / "tb" / "sp" / f"{t.number:04d}")
        content = acc.PluginTagToContent("hparams")
        end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
        assert end.session_end_info.status == 0  # STATUS_UNKNOWN: ended early on purpose


def test_multi_objective_metrics_are_named_per_objective(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two objectives: each trial's run holds objective/<metric> for both, equal to Optuna's
    values (neither overwrites the other), and the parent charts both per trial number."""
    import optuna
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    args = tune_args(tmp_path, "mo", 2, "--objectives", "accuracy:max", "loss:min")
    assert main([*args, *sets("train.epochs=1", "track.mlflow.experiment=multi")]) == 0
    study = optuna.load_study(study_name="mo", storage=f"sqlite:///{tmp_path / 'mo' / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    parent, nested = nested_runs(client, "multi")
    for t in trials:
        metrics = nested[t.number].data.metrics
        assert "objective" not in metrics
        assert (metrics["objective/accuracy"], metrics["objective/loss"]) == tuple(t.values)
        assert t.values[0] != t.values[1]
    for i, name in enumerate(("objective/accuracy", "objective/loss")):
        chart = client.get_metric_history(parent.info.run_id, name)
        assert sorted((m.step, m.value) for m in chart) == [(t.number, t.values[i]) for t in trials]


def test_two_workers_track_every_trial_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers 2 with one SQLite MLflow database and one TensorBoard folder: every trial has
    exactly one nested run under the study's parent, complete with its metrics, and its hparams."""
    import optuna
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    track = ["track.tensorboard.dir=tb", "track.mlflow.experiment=parallel"]
    assert main([*tune_args(tmp_path, "pw", 4, "--workers", "2"), *sets("train.epochs=1", *track)]) == 0
    study = optuna.load_study(study_name="pw", storage=f"sqlite:///{tmp_path / 'pw' / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2  # both workers ran trials

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    parent, nested = nested_runs(client, "parallel")
    assert parent.info.status == "FINISHED"
    assert sorted(nested) == [t.number for t in trials]
    for t in trials:
        r = nested[t.number]
        assert r.info.status == "FINISHED" and r.data.metrics["objective"] == t.value
        assert r.data.params == {k: param_text(v) for k, v in t.params.items()}
        final = final_scalars(json.loads((tmp_path / t.user_attrs["run_dir"] / "metrics.json").read_text()))
        assert {k: r.data.metrics[k] for k in final} == final
        assert events(tmp_path / "tb" / "pw" / f"{t.number:04d}").Scalars("objective")[-1].value == (
            pytest.approx(t.value, rel=1e-6)
        )
    chart = client.get_metric_history(parent.info.run_id, "objective")
    assert sorted((m.step, m.value) for m in chart) == [(t.number, t.value) for t in trials]
    assert not (tmp_path / "pw" / "tracking.log").exists()  # no tracking warning
