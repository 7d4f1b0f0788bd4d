"""``knobwise evaluate RUN [--split SPLIT] [--json] [--latency] [--ci LEVEL]``.

Rebuilds the run's data from its ``config.yaml`` (same seed, so the same split definition) and
its model from ``model.safetensors``, and recomputes every metric; nothing in the run is changed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from rich.console import Console
from rich.table import Table

from knobwise.api import load_run
from knobwise.cli._common import print_json
from knobwise.metrics import objective_lines, report_text
from knobwise.objective import SPLITS
from knobwise.run import record_latency


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory written by knobwise train")
    p.add_argument("--split", choices=SPLITS, help="evaluate only this split (default: every split)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON (metrics.json's layout)")
    p.add_argument(
        "--latency",
        action="store_true",
        help="measure batch-1 latency (median, p95) and large-batch throughput (saved in metrics.json)",
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
        help="list up to N hesitant predictions per split: two high scores, small margin",
    )
    p.add_argument(
        "--device", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto (default: the run's train.device)"
    )


def interval_lines(metrics: dict[str, Any], splits: list[str]) -> list[str]:
    """One line per split with confidence intervals (``--ci``): accuracy, macro F1, hmean recall.

    >>> m = {"dev": {"accuracy": 0.9, "ci": {"level": 0.95, "accuracy": [0.85, 0.94],
    ...      "macro": {"f1": [0.8, 0.9]}, "hmean": {}}}}
    >>> interval_lines(m, ["dev"])
    ['dev 95% intervals: accuracy 90.00% [85.00%, 94.00%], macro F1 [0.8000, 0.9000]']
    """
    out = []
    for s in splits:
        ci = metrics[s].get("ci")
        if not ci:
            continue
        parts = []
        acc = ci.get("accuracy")
        if acc:
            parts.append(f"accuracy {metrics[s]['accuracy']:.2%} [{acc[0]:.2%}, {acc[1]:.2%}]")
        for group, rate, label in (("macro", "f1", "macro F1"), ("hmean", "recall", "hmean recall")):
            iv = (ci.get(group) or {}).get(rate)
            if iv and None not in iv:
                parts.append(f"{label} [{iv[0]:.4f}, {iv[1]:.4f}]")
        out.append(f"{s} {ci['level']:.0%} intervals: " + ", ".join(parts))
    return out


def _print(out: dict[str, Any]) -> None:
    console = Console(highlight=False)
    metrics = out["metrics"]
    table = Table(title=f"run {out['run']}")
    for col in ("split", "examples", "loss", "accuracy", "error %", "macro F1", "hmean recall"):
        table.add_column(col, justify="left" if col == "split" else "right")

    def f(v: Any, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    splits = [s for s in SPLITS if s in metrics]
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
    for line in interval_lines(metrics, splits):
        print(line)
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
            f"on {lat['device']}, torch {lat['torch_version']}, {lat['threads']} threads; "
            f"saved to {out['run']}/metrics.json"
        )
    print()
    for line in objective_lines(metrics["objective"]):
        print(line)


def run(args: argparse.Namespace) -> int:
    # Library warnings become one line each on stderr (no file paths or source lines, once each,
    # also with --json), as train prints them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_ = load_run(args.run, device=args.device)
        out = run_.evaluate(args.split, latency=args.latency, ci=args.ci, hesitant=args.hesitant).to_dict()
    for line in dict.fromkeys(
        f"warning: {str(w.message).strip().splitlines()[0]}" for w in caught if str(w.message).strip()
    ):
        print(line, file=sys.stderr)
    if args.latency and "latency" in out["metrics"]:
        # Saved, so that select can hold the run to a latency constraint later.
        record_latency(run_.root, out["metrics"]["latency"], run_.config.evaluate)
    if args.json:
        print_json(out)
    else:
        _print(out)
    return 0


__all__ = ["add_arguments", "run"]
