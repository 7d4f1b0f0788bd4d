"""The Python API: everything the command line does, as functions and objects.

``knobwise.train`` trains a run and returns a :class:`Run`; ``knobwise.load_run`` opens any
finished run directory. A :class:`Run` owns its directory: ``run.metrics``, ``run.history``,
``run.evaluate(split)``, ``run.diagnose(human_error=...)``, ``run.errors()``,
``run.predict(images)``, ``run.export(path)``, ``run.report()``; in Jupyter it shows itself as
an HTML summary. ``knobwise.tune`` runs a study and returns a :class:`Study`;
``knobwise.select`` picks the best candidate under constraints. The CLI is a thin layer of
parsing and printing on top of this module.

Example:
    >>> import knobwise as kw
    >>> run = kw.train(overrides={"train.epochs": 1}, quiet=True)  # doctest: +SKIP
    >>> run.metrics["test"]["accuracy"] > 0.5  # doctest: +SKIP
    True
    >>> kw.load_config(None, {"train.epochs": 2}).train.epochs
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import yaml

from knobwise.config import ExperimentConfig, apply_overrides, config_from_dict, load_config, read_yaml
from knobwise.diagnose import (
    Explanation,
    LabelIssues,
    analyze_errors,
    decompose,
    diagnose_run,
    explain_run,
    find_label_issues,
)
from knobwise.errors import ConfigError, RunError, TrainingError
from knobwise.io import read_json
from knobwise.run import (
    BaseRun,
    is_run,
    open_run,
    resume_config,
    train_experiment,
    train_population,
    write_ensemble,
)
from knobwise.select import SelectResult, load_table, select_candidates
from knobwise.train import Callback

__all__ = [
    "Run",
    "Study",
    "train",
    "ensemble",
    "load_run",
    "tune",
    "load_study",
    "select",
    "diagnose",
    "load_config",
    "write_trial_reports",
    "write_report",
    "report_kind",
]

Overrides = Sequence[str] | Mapping[str, Any] | None


def _report() -> ModuleType:
    """``knobwise.report``, imported when a report is written: it loads matplotlib and jinja2
    (0.5 s), which studies, predictions and exports never need."""
    # lazy: see the docstring
    import knobwise.report

    return knobwise.report


class Run(BaseRun):
    """A run directory with everything knobwise can do with it (see :class:`knobwise.run.BaseRun`
    for what it loads: ``config``, ``history``, ``metrics``, ``model``, ``data``, ``predictions``).
    """

    def diagnose(
        self, human_error: float | None = None, bayes_error: float | None = None, tolerance: float = 1.0
    ) -> dict[str, Any]:
        """Bias / variance / data mismatch against human-level error, curve and gradient findings,
        and the knobs to turn, in order (what ``knobwise diagnose RUN`` prints)."""
        return diagnose_run(self, human=human_error, bayes=bayes_error, tolerance=tolerance)

    def errors(self, split: str = "dev", top: int = 10) -> dict[str, Any]:
        """Error analysis of ``split``: errors per class, top confusions, lowest-confidence and
        most confident mistakes (what ``knobwise errors RUN`` prints)."""
        if top < 1:
            raise ConfigError(f"top must be >= 1, got {top}")
        return analyze_errors(self.predictions(split), self.classes, top=top)

    def label_issues(
        self, folds: int = 4, epochs: int | None = None, clusters: int | None = None, top: int = 10
    ) -> LabelIssues:
        """Training examples ranked by how likely their label is wrong (k-fold confident learning;
        with ``clusters``, also against k-means clusters of the trained model's features)."""
        cfg = self.config
        return find_label_issues(
            cfg,
            self.data,
            folds=folds,
            epochs=epochs if epochs is not None else min(cfg.train.epochs, 3),
            seed=cfg.seed,
            model=self.model if clusters else None,
            clusters=clusters,
            top=top,
        )

    def report(self, out: str | Path | None = None) -> Path:
        """Write the HTML report (default ``RUN/report.html``) and return its path."""
        return _report().write_run_report(self, out)

    def explain(
        self,
        split: str = "dev",
        *,
        which: str = "misclassified",
        n: int = 16,
        method: str = "gradcam",
        **options: Any,
    ) -> Explanation:
        """What the network looks at (captum): attribution maps of ``n`` examples of ``split``
        chosen by ``which`` (misclassified, lowest, confident, ``class:NAME``) with ``method``
        (gradcam, saliency, integrated_gradients, occlusion); ``target``, ``layer``, ``steps``,
        ``boxes``/``masks`` (the surroundings check) as in ``knobwise explain``. The result's
        ``.to_dict()`` has the maps; ``knobwise.report.explanation_grid(result)`` draws the grid."""
        return explain_run(self, split, which=which, n=n, method=method, **options)

    def _repr_html_(self) -> str:
        return _report().run_html(self)


class Study:
    """A study directory (``studies/NAME``): its trials, the best one, its report.

    ``rows`` holds one dict per complete trial (parameters, objective values, dev metrics,
    ``run_dir``); :attr:`best` is the best trial's row; :meth:`best_run` opens its run.
    """

    def __init__(self, path: str | Path) -> None:
        # lazy: knobwise.tune imports optuna (~1 s); training and reporting a run never need it
        from knobwise.tune import StudyPaths, is_study_dir

        self.dir = Path(path)
        self._paths = StudyPaths(self.dir)
        if not is_study_dir(self.dir):
            raise ConfigError(f"{self.dir}: not a study directory (no study.json)")
        self._rows: list[dict[str, Any]] | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per complete trial."""
        if self._rows is None:
            # lazy: optuna, as in __init__
            from knobwise.tune import load_study_rows

            self._rows = load_study_rows(self.dir)
        return self._rows

    @property
    def summary(self) -> dict[str, Any]:
        """``study.json``: settings, the best trials, trial counts per state, importances."""
        return dict(read_json(self._paths.study_json))

    @property
    def best(self) -> dict[str, Any] | None:
        """The best trial (as ``study.json`` lists it), or None when no trial completed."""
        best = self.summary.get("best_trials") or []
        return best[0] if best else None

    def best_run(self) -> Run:
        """The run directory of the best trial."""
        if self.best is None:
            raise ConfigError(f"{self.dir}: no complete trial yet")
        return Run(self.best["run_dir"])

    def best_config(self) -> ExperimentConfig:
        """The config with the best trial's values (``best_config.yaml``)."""
        return config_from_dict(read_yaml(self._paths.best_config))

    def report(self, out: str | Path | None = None) -> Path:
        """Write the study's HTML report and return its path."""
        return write_report([self.dir], out)

    def __repr__(self) -> str:
        best = self.best
        shown = f"best {best.get('value')!r} (trial {best.get('number')})" if best else "no complete trial"
        return f"Study('{self.dir}': {shown})"


def train(
    config: str | Path | ExperimentConfig | None = None,
    overrides: Overrides = None,
    out: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    quiet: bool = False,
    report: bool = True,
    callbacks: Sequence[Callback] = (),
    population: int | None = None,
    vote: str = "plurality",
) -> Run:
    """Train a config (a YAML path, an :class:`ExperimentConfig`, or None for the built-in
    digits quickstart) into a new run directory (``out``, default ``runs/<time>-<name>``), and
    write its report. ``overrides`` are ``{"train.epochs": 5}`` or ``["train.epochs=5"]``.

    ``resume`` continues an interrupted run instead (``overrides`` then change training knobs
    only: babysitting). ``callbacks`` are :class:`knobwise.train.Callback` s called by the training
    loop. A failed report keeps the run and raises (retry with ``run.report()``).

    ``population`` N trains N members (``train.seed`` = seed + k, one data split) together in
    this process into ``RUN/members/k`` (each a full run with its report) and returns ``RUN``,
    their ensemble by ``vote`` (``plurality`` or ``mean``); see :func:`ensemble`. Each member
    is tracked (``track:``) as its own run; ``callbacks`` apply to single runs only.
    """

    def finish(saved: BaseRun) -> None:
        if report:  # before the trackers finish, so they log the report too
            _write_final_report(as_api_run(saved))

    if population is not None:
        if resume is not None:
            raise ConfigError("--population cannot be resumed: resume a member (--resume RUN/members/K)")
        if callbacks:
            raise ConfigError("callbacks apply to a single run, not to a population")
        cfg = config_from_dict(_apply(config, overrides)) if isinstance(config, ExperimentConfig) else (
            load_config(config, overrides)
        )  # fmt: skip
        result = train_population(cfg, population, out, quiet=quiet, vote=vote, on_saved=finish)
        ensemble_run = Run(result.run.root)
        if report:
            _write_final_report(ensemble_run)
        return ensemble_run

    if resume is not None:
        if config is not None:
            raise ConfigError(
                "resume takes the run's own config.yaml: give no config (change knobs with overrides)"
            )
        paths, cfg, changed = resume_config(resume, _override_list(overrides))
        base = train_experiment(
            cfg, resume=paths.root, knob_changes=changed, quiet=quiet, callbacks=callbacks, on_saved=finish
        )
    else:
        if isinstance(config, ExperimentConfig):
            cfg = config_from_dict(_apply(config, overrides))
        else:
            cfg = load_config(config, overrides)
        base = train_experiment(cfg, out, quiet=quiet, callbacks=callbacks, on_saved=finish)
    return as_api_run(base)


def ensemble(
    runs: Sequence[str | Path | BaseRun],
    vote: str = "plurality",
    out: str | Path | None = None,
    *,
    report: bool = True,
) -> Run:
    """Combine finished runs (same classes, same data split) into a new ensemble run ``out``
    (default ``runs/<time>-ensemble-N``): its metrics of each split by ``vote`` (``plurality``:
    most top-1 votes, a tie to the highest mean probability; ``mean``: the highest mean
    probability), both votes' and every member's accuracy under ``metrics["ensemble"]``, its
    predictions and report. The returned :class:`Run` predicts by voting its members.
    """
    target, _ = write_ensemble([Path(r) for r in runs], vote, out)
    result = Run(target.root)
    if report:
        _write_final_report(result)
    return result


def as_api_run(run: BaseRun) -> Run:
    """The :class:`Run` of a run-layer run, sharing what it has loaded (data, model, metrics)."""
    if isinstance(run, Run):
        return run
    api_run = Run.__new__(Run)
    api_run.__dict__.update(run.__dict__)
    return api_run


def _apply(config: ExperimentConfig, overrides: Overrides) -> dict[str, Any]:
    return apply_overrides(config.model_dump(mode="json"), overrides)


def _override_list(overrides: Overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                for k, v in overrides.items()]  # fmt: skip
    return list(overrides)


def _write_final_report(run: Run) -> None:
    """The report, last: a failure keeps the saved run (everything else is written by now)."""
    try:
        run.report()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        run.paths.log_line(f"report failed: {reason}")
        raise TrainingError(
            f"{run.root}: the run is saved but its report failed ({reason}); "
            f"retry with `knobwise report {run.root}`"
        ) from exc


def load_run(path: str | Path, device: str | torch.device | None = None) -> Run:
    """Open a run directory (the model loads on ``device``, default the run's own)."""
    return Run(path, device=device)


def tune(
    config: str | Path,
    space: str | Path,
    *,
    sampler: str | None = None,
    pruner: str | None = None,
    trials: int | None = None,
    workers: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    quiet: bool = False,
    trial_reports: bool = False,
    **options: Any,
) -> Study:
    """Run (or resume) a hyperparameter study of ``config`` over the search space ``space``;
    every ``knobwise tune`` option (``timeout``, ``refine``, ``objectives``, ``seed``,
    ``resume``, ``pruner_startup``, ...) is a keyword argument of the same name, and one left
    out (or None) takes the option's default (:class:`knobwise.tune.TuneRequest` defines them).

    Trials write their metrics and predictions; ``trial_reports`` also renders each complete
    trial's HTML report (``knobwise report STUDY/trials/NNNN`` does it later for one).
    """
    # lazy: optuna, only studies need it
    from knobwise.tune import TuneRequest, run_study

    named = {"sampler": sampler, "pruner": pruner, "trials": trials, "workers": workers, "storage": storage}
    given = {k: v for k, v in {**named, "study": study, **options}.items() if v is not None}
    req = TuneRequest(
        config=str(config), space=str(space), out=None if out is None else str(out),
        overrides=list(overrides), quiet=quiet, **given,
    )  # fmt: skip
    result = run_study(req)
    study_ = Study(result["settings"]["study_dir"])
    if trial_reports:
        write_trial_reports(study_.dir)
    return study_


def write_trial_reports(study_dir: str | Path) -> list[Path]:
    """The HTML report of every finished trial of a study (the test split stays unread)."""
    written = []
    for trial in sorted(Path(study_dir).glob("trials/[0-9]*")):
        if (trial / "metrics.json").is_file() and (trial / "model.safetensors").is_file():
            written.append(_report().write_run_report(Run(trial, device="cpu")))
    return written


def load_study(path: str | Path) -> Study:
    """Open a study directory written by ``knobwise tune``."""
    return Study(path)


def select(
    candidates: str | Path | Sequence[str | Path | Run | Study] | Sequence[Mapping[str, Any]],
    optimize: str,
    satisfy: Sequence[str] = (),
    direction: str | None = None,
) -> SelectResult:
    """The best candidate by ``optimize`` subject to every constraint in ``satisfy``.

    Candidates are run directories, folders of runs, studies, CSV/JSON tables (paths, :class:`Run`
    or :class:`Study` objects), or rows (dicts) given directly.

    >>> rows = [{"name": "a", "dev.accuracy": 0.97, "latency_ms": 130},
    ...         {"name": "b", "dev.accuracy": 0.96, "latency_ms": 80}]
    >>> select(rows, "dev.accuracy", ["latency_ms <= 100"]).winner
    'b'
    """
    # lazy: knobwise.tune registers the study table reader and imports optuna, which training
    # and reporting a run never need
    import knobwise.tune  # noqa: F401

    items = [candidates] if isinstance(candidates, str | Path) else list(candidates)
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            rows.append(dict(item))
        elif isinstance(item, BaseRun):
            rows.extend(load_table(item.root))
        elif isinstance(item, Study):
            rows.extend(load_table(item.dir))
        else:
            rows.extend(load_table(item))
    return select_candidates(rows, optimize, list(satisfy), direction)


def diagnose(
    run: str | Path | Run | None = None,
    *,
    human_error: float | None = None,
    bayes_error: float | None = None,
    train_error: float | None = None,
    train_dev_error: float | None = None,
    dev_error: float | None = None,
    test_error: float | None = None,
    tolerance: float = 1.0,
) -> dict[str, Any]:
    """Bias / variance / data-mismatch diagnosis of a run, or of error rates given directly
    (percent), against human-level (and Bayes) error.

    >>> d = diagnose(train_error=8.0, dev_error=8.5, human_error=1.0)
    >>> d["verdict"], d["avoidable_bias"], d["variance"]
    ('high bias', 7.0, 0.5)
    """
    if run is not None:
        return diagnose_run(
            run if isinstance(run, BaseRun) else Run(run),
            human=human_error,
            bayes=bayes_error,
            tolerance=tolerance,
        )
    return decompose(
        train=train_error,
        train_dev=train_dev_error,
        dev=dev_error,
        test=test_error,
        human=human_error,
        bayes=bayes_error,
        tolerance=tolerance,
    ).to_dict()


def report_kind(path: str | Path) -> str:
    """``"run"`` or ``"study"``; a :class:`RunError` (exit code 2) for anything else.

    >>> report_kind("/")
    Traceback (most recent call last):
    ...
    knobwise.errors.RunError: /: not a knobwise run or study (no config.yaml with model.json, no study.json)
    """
    # lazy: knobwise.tune imports optuna (see Study)
    from knobwise.tune import is_study_dir

    p = Path(path)
    if not p.exists():
        raise RunError(f"{p}: no such run or study directory")
    if is_run(p):
        return "run"
    if is_study_dir(p):
        return "study"
    if (p / "config.yaml").is_file() and (p / "log.txt").is_file():
        open_run(p)  # a run that never saved a model: says why (e.g. stopped on a NaN loss)
    raise RunError(f"{p}: not a knobwise run or study (no config.yaml with model.json, no study.json)")


def write_report(paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """One path: the report of that run or study (default ``PATH/report.html``); several runs:
    their comparison (default ``comparison.html`` in the current folder)."""
    if not paths:
        raise RunError("report: give a run, a study, or two or more runs")
    kinds = [report_kind(p) for p in paths]
    if len(paths) == 1:
        if kinds[0] == "study":
            # lazy: the study report reads the study with optuna; a run's report never needs it
            from knobwise.report._study import write_study_report

            return write_study_report(paths[0], out)
        return _report().write_run_report(paths[0], out)
    if "study" in kinds:
        study = paths[kinds.index("study")]
        raise RunError(f"{study}: a study cannot be compared with runs; report it on its own")
    return _report().write_comparison_report(paths, out if out is not None else "comparison.html")
