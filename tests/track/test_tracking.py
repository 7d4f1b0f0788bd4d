"""Tracking: what TensorBoard's and MLflow's own readers return equals the run's own files.

MLflow imports slowly, so the MLflow tests are few: a tracked run (resumed once), a tracked
3-trial study, and a database locked in the middle of a run.
"""

from __future__ import annotations

import csv
import json
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
