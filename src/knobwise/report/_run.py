"""The report of one run: ``report.html`` plus its figures as PNG files in the run directory.

Sections, each shown as far as its data exists: the optimizing metric and constraints, metrics
per split, learning curves, confusion matrices with the classification report, misclassified
and lowest-confidence examples, diagnosis, error analysis, label issues, augmentation preview,
model summary and the resolved config.

Example (a finished run)::

    path = write_run_report("runs/20250101-digits")  # -> runs/20250101-digits/report.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from knobwise.io import atomic_write_bytes, atomic_write_text
from knobwise.metrics import INTERVAL_COLUMNS, Predictions, format_interval, interval_rows
from knobwise.models import build_from_layers, summarize
from knobwise.report import _diagnosis, _examples, _plots, _tabular
from knobwise.report._curves import learning_curves
from knobwise.report._explain_section import explain_section
from knobwise.report._figures import ReportFigure
from knobwise.report._heatmap import MAX_CLASSES, confusion_heatmap
from knobwise.report._render import render_page
from knobwise.report._sections import Mark, RunArtifacts, Section, Table, fmt
from knobwise.run import BaseRun, as_run

__all__ = ["write_run_report", "run_sections", "run_header"]

#: Splits whose confusion matrix and examples are shown: dev (where decisions are made), test.
_EVIDENCE_SPLITS = ("dev", "test")
_RATE_COLUMNS = ("precision", "recall", "f1", "specificity", "npv")


def run_header(art: RunArtifacts) -> list[tuple[str, str]]:
    """The facts at the top: dataset, model, device, duration, seed, versions, stop reason."""
    run = art.metrics.get("run") or {}
    model = art.metrics.get("model") or {}
    data_cfg = art.config.get("data") or {}
    model_cfg = art.config.get("model") or {}
    facts: list[tuple[str, Any]] = [
        ("dataset", data_cfg.get("dataset") or (art.model_json.get("data") or {}).get("dataset")),
        ("model", model_cfg.get("name") or ("layer list" if model_cfg.get("layers") else None)),
        ("parameters", f"{model['params']:,}" if "params" in model else None),
        ("device", run.get("device")),
        (
            "duration",
            f"{run['duration_s']:.1f} s" if isinstance(run.get("duration_s"), (int, float)) else None,
        ),
        ("epochs", run.get("epochs")),
        ("seed", run.get("seed", art.config.get("seed"))),
        ("knobwise", run.get("knobwise_version") or art.model_json.get("knobwise_version")),
        ("torch", run.get("torch_version") or art.model_json.get("torch_version")),
        ("stopped", run.get("stop_reason")),
    ]
    return [(k, fmt(v)) for k, v in facts if v is not None]


def _objective(art: RunArtifacts) -> Section:
    s = Section("objective", "Optimizing metric and constraints")
    obj = art.metrics.get("objective")
    if isinstance(obj, dict):
        split = obj.get("split")
        value_key = f"value on {split}" if split else "value"
        s.add_items(
            [
                ("optimizing metric", obj.get("metric")),
                ("direction", obj.get("direction")),
                (value_key, obj.get("value")),
            ]
        )
        cons = obj.get("constraints") or []
        if cons:
            rows: list[list[Any]] = [
                [
                    str(c.get("expr")),
                    fmt(c.get("value")),
                    Mark("met" if c.get("satisfied") else "not met", bool(c.get("satisfied"))),
                ]
                for c in cons
            ]
            s.tables.append(Table(["constraint", "value", "status"], rows))
        else:
            s.paragraphs.append("No satisficing constraints.")
        return s
    ev = art.config.get("evaluate") or {}
    s.add_items(
        [
            ("optimizing metric (config)", ev.get("metric")),
            ("constraints (config)", ev.get("constraints") or "none"),
        ]
    )
    s.note(
        "metrics.json has no 'objective': this run did not record the metric's value or check the constraints"
    )
    return s


def _metrics(art: RunArtifacts) -> Section:
    s = Section("metrics", "Metrics per split")
    splits = art.splits()
    if not splits:
        s.note(f"no metrics: metrics.json {art.missing.get('metrics.json', 'has no split')}")
        return s
    cols = ["split", "examples", "loss", "accuracy", "error %", "macro F1", "hmean recall"]
    rows = []
    for name in splits:
        m = art.metrics[name]
        rows.append(
            [
                name,
                fmt(m.get("n")),
                fmt(m.get("loss")),
                fmt(m.get("accuracy")),
                f"{m['error']:.2f}" if isinstance(m.get("error"), (int, float)) else "undefined",
                fmt((m.get("macro") or {}).get("f1")) if m.get("macro") else "not recorded",
                fmt((m.get("hmean") or {}).get("recall")) if m.get("hmean") else "not recorded",
            ]
        )
    s.tables.append(Table(cols, rows))
    return s


def _curves(art: RunArtifacts) -> Section:
    s = Section("curves", "Learning curves")
    if not art.history:
        s.note(f"no learning curves: history.csv {art.missing.get('history.csv', 'is empty')}")
        return s
    s.figures.append(learning_curves(art.history))
    changes = [f"epoch {int(r['epoch'])}: {r['knob_change']}" for r in art.history if r.get("knob_change")]
    if changes:
        s.paragraphs.append("Knob changes (dotted lines): " + "; ".join(changes))
    return s


def _class_report(m: dict[str, Any], cm: np.ndarray, classes: list[str], split: str) -> Table:
    """The per-class table: the run's recorded rates when metrics.json has them, else precision,
    recall and F1 from the confusion matrix (0/0 shown as undefined)."""
    per_class = m.get("per_class") if isinstance(m.get("per_class"), dict) else None
    support = cm.sum(axis=1)
    if per_class and m.get("confusion_matrix") and m.get("classes") and m.get("n"):
        return _class_report_intervals(m, split)
    if per_class:
        cols = [c for c in _RATE_COLUMNS if any(c in (v or {}) for v in per_class.values())]
        rows: list[list[Any]] = [
            [str(name), *[fmt((v or {}).get(c)) for c in cols]] for name, v in per_class.items()
        ]
        for agg in ("macro", "weighted", "micro", "hmean"):
            if isinstance(m.get(agg), dict):
                rows.append([f"{agg} average", *[fmt(m[agg].get(c)) for c in cols]])
        return Table(["class", *cols], rows, f"Classification report ({split})")
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / cm.sum(axis=0)
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall)
    rows = [
        [
            classes[i] if i < len(classes) else str(i),
            fmt(precision[i]),
            fmt(recall[i]),
            fmt(f1[i]),
            str(int(support[i])),
        ]
        for i in range(len(cm))
    ]
    return Table(["class", "precision", "recall", "f1", "support"], rows, f"Classification report ({split})")


def _class_report_intervals(m: dict[str, Any], split: str, level: float = 0.95) -> Table:
    """Every rate with its interval and the n it is a proportion of (see
    :func:`knobwise.metrics.interval_rows`), the averages and accuracy below the classes."""
    cols = [c for c, _, _ in INTERVAL_COLUMNS]
    rows: list[list[Any]] = []
    for r in interval_rows(m, level):
        cells = r["cells"]
        if r["label"] == "accuracy":
            rows.append(["accuracy", format_interval(cells["accuracy"]), *[""] * (len(cols) - 1)])
        else:
            rows.append([r["label"], *[format_interval(cells[c]) for c in cols]])
    caption = (
        f"Classification report ({split}): value [{100 * level:g}% interval] n = the examples the rate "
        "is a proportion of (Wilson intervals; percentile bootstrap over examples for F1 and the averages)"
    )
    return Table(["class", *cols], rows, caption)


def _tracked(config: dict[str, Any]) -> bool:
    """Whether the run logs to TensorBoard or MLflow, which show the confusion matrix as an image."""
    track = config.get("track") or {}
    return any(track.get(k) not in (None, False) for k in ("tensorboard", "mlflow"))  # {}: defaults, on


def _evidence(
    art: RunArtifacts,
    preds: dict[str, Predictions],
    data: Any,
    why: str | None,
    order: list[str] | None = None,
) -> list[Section]:
    cm_sec = Section("confusion", "Confusion matrix and classification report")
    ex_sec = Section("examples", "Misclassified and lowest-confidence examples")
    classes = art.classes
    k = len(classes)
    for split in _EVIDENCE_SPLITS:
        m = art.metrics.get(split) if isinstance(art.metrics.get(split), dict) else {}
        cm = np.asarray(m["confusion_matrix"]) if m and m.get("confusion_matrix") else None
        p = preds.get(split)
        if cm is None and p is not None and k:
            cm = _examples.confusion_from(p, k)
        if cm is not None and cm.size:
            names = classes or [str(i) for i in range(len(cm))]
            if len(cm) <= MAX_CLASSES:  # numbers as text in coloured cells: no drawing at all
                cm_sec.heatmaps += [confusion_heatmap(cm, names, split, norm) for norm in (False, True)]
            if len(cm) > MAX_CLASSES or _tracked(art.config):  # a picture for many classes, trackers
                cm_sec.figures.append(_plots.confusion_heatmaps(cm, names, split))
            cm_sec.tables.append(_class_report(m or {}, cm, classes, split))
        if p is None or data is None or split not in data.splits or ex_sec.figures or ex_sec.tables:
            continue  # example grids for the first split that has them (dev, where decisions are made)
        if getattr(data, "tabular", None) is not None:  # records: attribute tables, not image grids
            n_wrong = int((p.true != p.pred).sum())
            ex_sec.paragraphs.append(f"{split}: {n_wrong} of {len(p.true)} records misclassified.")
            ex_sec.tables.extend(_tabular.example_tables(data, split, p, classes, order))
            continue
        grid, n_wrong = _examples.mistakes_grid(data, split, p, classes)
        ex_sec.paragraphs.append(f"{split}: {n_wrong} of {len(p.true)} examples misclassified.")
        for fig in (grid, _examples.low_confidence_grid(data, split, p, classes)):
            if fig is not None:
                ex_sec.figures.append(fig)
    if not cm_sec.figures:
        cm_sec.note(f"no confusion matrix: {why or 'no dev or test predictions in this run'}")
    if not ex_sec.figures and not ex_sec.tables:
        ex_sec.note(f"no example images: {why or 'no dev or test predictions or images for this run'}")
    return [cm_sec, ex_sec]


def _input_text(model_json: dict[str, Any], shape: list[int]) -> str:
    tab = (model_json.get("data") or {}).get("tabular")
    if tab:  # a record of attributes is an F x 1 x 1 input
        return f"{len(tab['features'])} attribute columns: {', '.join(tab['features'])}"
    return "x".join(map(str, shape))


def _model_summary(art: RunArtifacts, run: BaseRun) -> Section:
    s = Section("model", "Model summary")
    layers, shape = art.model_json.get("layers"), art.model_json.get("input_shape")
    if not layers or not shape:
        s.note(f"no model summary: model.json {art.missing.get('model.json', 'has no layers')}")
        return s
    try:
        model = run.model
    except Exception:  # no weights (an unfinished run): the architecture alone still has a summary
        model = build_from_layers(layers, tuple(shape), None)
    summary = summarize(model, tuple(shape))
    rows = [[r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}"] for r in summary.layers]
    s.tables.append(Table(["layer", "type", "output shape", "parameters"], rows))
    s.add_items(
        [
            ("input", _input_text(art.model_json, shape)),
            ("total parameters", f"{summary.total_params:,}"),
            ("trainable", f"{summary.trainable_params:,}"),
            ("size", f"{summary.size_mb:.3f} MB"),
            ("depth (layers with weights)", summary.depth),
        ]
    )
    return s


def _config(art: RunArtifacts) -> Section:
    s = Section("config", "Resolved config")
    if art.config_text is None:
        s.note(f"no config: config.yaml {art.missing.get('config.yaml')}")
    else:
        s.pre = art.config_text
    return s


def _load_evidence(art: RunArtifacts, run: BaseRun) -> tuple[dict[str, Predictions], Any, str | None]:
    """Predictions of the evidence splits (from predictions.npz, else from the model) and the
    rebuilt data for the example images; what could not be had is said, never raised."""
    preds: dict[str, Predictions] = {}
    if not run.paths.predictions.is_file() and not run.paths.weights.is_file():
        why = "the run has neither predictions.npz nor model.safetensors"
        try:
            return preds, run.data, why
        except Exception:
            return preds, None, why
    try:
        data = run.data
        for split in _EVIDENCE_SPLITS:
            if split in data.splits and len(data.splits[split]):
                preds[split] = run.predictions(split)
    except Exception as exc:  # the data may be gone or the run unfinished: show what can be shown
        why = f"could not rebuild the data or predictions ({type(exc).__name__}: {exc})".splitlines()[0]
        return preds, None, why
    return preds, data, None


def _tabular_part(art: RunArtifacts, data: Any, run: BaseRun) -> tuple[Section, list[str] | None] | None:
    """The attributes section of a tabular run (None for images)."""
    tab = (art.model_json.get("data") or {}).get("tabular")
    if not tab:
        return None
    model = run.model if run.paths.weights.is_file() else None
    return _tabular.attributes_section(tab, data, model)


def run_sections(art: RunArtifacts, run: BaseRun) -> list[Section]:
    """Every section of a run report, in order."""
    preds, data, why = _load_evidence(art, run)
    tabular = _tabular_part(art, data, run)
    return [
        _objective(art),
        _metrics(art),
        _curves(art),
        *_evidence(art, preds, data, why, tabular[1] if tabular else None),
        *([tabular[0]] if tabular else [explain_section(run, data, preds)]),
        _diagnosis.diagnosis_section(run),
        _diagnosis.error_analysis_section(run),
        _diagnosis.label_issues_section(run),
        _diagnosis.augmentation_section(run, art.config),
        _model_summary(art, run),
        _config(art),
    ]


def _save_figures(root: Path, sections: list[Section]) -> None:
    figs: list[ReportFigure] = [f for s in sections for f in s.figures]
    for f in figs:
        atomic_write_bytes(root / "figures" / f"{f.name}.png", f.png)


def write_run_report(run: BaseRun | str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run`` to ``out`` (default ``RUN/report.html``) and its figures to
    ``RUN/figures/*.png``. A run object that still holds its data and model (right after
    training) is reported without loading them again."""
    run = as_run(run)
    art = RunArtifacts.load(run.root)
    sections = run_sections(art, run)
    missing = [f"{name} ({why})" for name, why in art.missing.items()]
    html = render_page(art.name, "run", sections, run_header(art), missing)
    target = Path(out) if out is not None else run.paths.report
    atomic_write_text(target, html)
    _save_figures(run.root, sections)
    return target
