"""``knobwise evaluate RUN [--split SPLIT] [--json] [--latency] [--ci LEVEL]``.

Rebuilds the run's data from its ``config.yaml`` (same seed, so the same split definition) and
its model from ``model.safetensors``, and recomputes every metric; nothing in the run is changed.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from knobwise.cli._common import print_json
from knobwise.config import config_from_dict, read_yaml
from knobwise.data import prepare_data
from knobwise.errors import ConfigError, RunError
from knobwise.experiment import evaluate_splits, load_trained
from knobwise.metrics import (
    Predictions,
    check_objective,
    confidence_intervals,
    hesitant_predictions,
    measure_latency,
    needs_latency,
    objective_lines,
    report_text,
)
from knobwise.models import summarize
from knobwise.runs import open_run
from knobwise.train import autocast_dtype, resolve_device

NAME = "evaluate"
HELP = "recompute a trained run's metrics, confusion matrix and (with --latency) its classification time"
_SPLITS = ("train", "train_dev", "dev", "test")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory written by knobwise train")
    p.add_argument("--split", choices=_SPLITS, help="evaluate only this split (default: every split)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON (metrics.json's layout)")
    p.add_argument(
        "--latency",
        action="store_true",
        help="measure batch-1 latency (median, p95) and large-batch throughput",
    )
    p.add_argument(
        "--ci",
        type=float,
        metavar="LEVEL",
        help="add confidence intervals at LEVEL, e.g. 0.95 (Wilson; bootstrap for aggregates)",
    )
    p.add_argument(
        "--hesitant",
        type=int,
        default=10,
        metavar="N",
        help="list up to N hesitant predictions per split (two high scores, small margin)",
    )
    p.add_argument("--device", help="device to evaluate on (default: the run's train.device)")


def evaluate_run(
    run_dir: str,
    split: str | None = None,
    *,
    latency: bool = False,
    ci: float | None = None,
    hesitant: int = 10,
    device: str | None = None,
) -> dict[str, Any]:
    """``{"run", "metrics": {split: {...}, "model", "latency"?, "objective"},
    "hesitant": {split: [...]}}``."""
    paths = open_run(run_dir)
    if not paths.weights.is_file():
        raise RunError(f"{paths.root}: no model.safetensors (the run has not finished; --resume it)")
    cfg = config_from_dict(read_yaml(paths.config))
    dev = resolve_device(device or cfg.train.device)
    data = prepare_data(cfg.data, cfg.seed, dev)
    model, meta = load_trained(paths.root, dev)
    if list(meta.get("classes", data.classes)) != list(data.classes):
        raise RunError(
            f"{paths.root}: the data's classes {data.classes} differ from the model's {meta['classes']}"
        )
    if split is not None and split not in data.splits:
        raise RunError(f"{paths.root}: the run has no {split} split (splits: {', '.join(data.splits)})")
    amp = autocast_dtype(cfg.train, dev)
    preds: dict[str, dict[str, Any]] = {}
    wanted = None if split is None else [split]
    # Same test-time augmentation as training used, so the numbers reproduce metrics.json.
    metrics = evaluate_splits(model, data, amp, predictions=preds, splits=wanted, tta=cfg.evaluate.tta)
    summary = summarize(model, data.input_shape)
    metrics["model"] = {"params": summary.total_params, "size_mb": summary.size_mb, "depth": summary.depth}
    if latency or needs_latency(cfg.evaluate.metric, cfg.evaluate.constraints):
        example = next(s.x[:1] for s in data.splits.values() if len(s))
        metrics["latency"] = measure_latency(model, example, amp_dtype=amp)
    hesitant_out: dict[str, list[dict[str, Any]]] = {}
    for name, p in preds.items():
        t, y = p["true"], p["pred"]
        if ci is not None:
            metrics[name]["ci"] = confidence_intervals(
                t, y, data.classes, metrics[name]["per_class"], level=ci
            )
        pr = Predictions(
            index=np.asarray(p["index"]),
            true=t.cpu().numpy(),
            pred=y.cpu().numpy(),
            proba=p["proba"].cpu().numpy(),
            ids=p["ids"],
            source=p["source"],
        )
        hesitant_out[name] = hesitant_predictions(pr, data.classes, limit=hesitant)
    try:
        metrics["objective"] = check_objective(
            metrics, cfg.evaluate.metric, cfg.evaluate.constraints, cfg.evaluate.direction
        )
    except ConfigError as exc:  # e.g. a latency constraint without --latency: shown, not fatal
        metrics["objective"] = {
            "metric": cfg.evaluate.metric,
            "value": None,
            "constraints": [],
            "error": str(exc),
        }
    return {"run": str(paths.root), "metrics": metrics, "hesitant": hesitant_out}


def _print(out: dict[str, Any]) -> None:
    console = Console(highlight=False)
    metrics = out["metrics"]
    table = Table(title=f"run {out['run']}")
    for col in ("split", "examples", "loss", "accuracy", "error %", "macro F1", "hmean recall"):
        table.add_column(col, justify="left" if col == "split" else "right")

    def f(v: Any, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    splits = [s for s in _SPLITS if s in metrics]
    for s in splits:
        m = metrics[s]
        table.add_row(
            s,
            str(m["n"]),
            f(m["loss"], ".4f"),
            f(m["accuracy"], ".2%"),
            f(m["error"], ".2f"),
            f(m["macro"]["f1"], ".4f"),
            f(m["hmean"]["recall"], ".4f"),
        )
    console.print(table)
    for s in [s for s in ("dev", "test") if s in splits] or splits[:1]:
        m = metrics[s]
        print(f"\n{s}: classification report")
        # Plain print: the report and matrix are wider than rich's default width when piped.
        print(report_text(m, digits=3, intervals=(m.get("ci") or {}).get("level", 0.95)))
        print("confusion matrix (rows true, columns predicted): " + ", ".join(m["classes"]))
        for name, row in zip(m["classes"], m["confusion_matrix"], strict=True):
            print(f"  {name:>10} " + " ".join(f"{v:>5}" for v in row))
        c = m.get("confidence")
        if c:
            print(
                f"top-1 probability median {f(c['top1']['median'], '.3f')}, margin median "
                f"{f(c['margin']['median'], '.3f')}; {c['hesitant']} hesitant ({c['hesitant_rule']})"
            )
        for h in out["hesitant"].get(s, []):
            print(
                f"  #{h['index']}{' ' + h['id'] if h['id'] else ''}: true {h['true']}, predicted {h['pred']} "
                f"{h['top1']:.2f} vs {h['second']} {h['second_proba']:.2f}"
            )
    lat = metrics.get("latency")
    if lat:
        print(
            f"\nlatency (batch 1, {lat['runs']} runs after {lat['warmup']} warm-up): "
            f"median {lat['median_ms']:.3f} ms, p95 {lat['p95_ms']:.3f} ms; "
            f"throughput {lat['throughput_per_s']:.0f}/s at batch {lat['throughput_batch']} "
            f"on {lat['device']}, torch {lat['torch_version']}, {lat['threads']} threads"
        )
    print()
    for line in objective_lines(metrics["objective"]):
        print(line)


def run(args: argparse.Namespace) -> int:
    out = evaluate_run(
        args.run, args.split, latency=args.latency, ci=args.ci, hesitant=args.hesitant, device=args.device
    )
    if args.json:
        print_json(out)
    else:
        _print(out)
    return 0


__all__ = ["NAME", "HELP", "add_arguments", "run", "evaluate_run"]
