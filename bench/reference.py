"""Reference results: the MNIST ladder rerun with knobwise and recorded beside the reported numbers.

The examples follow Nielsen's network3.py, where the reported numbers come from: MNIST's first
50,000 training images to train, the last 10,000 to validate, the 10,000-image test set; mini-batch
10, plain SGD; weights N(0, 1/n_out), biases N(0, 1), a zero softmax layer (``model.init:
network3``); L2 as 0.5·λ·Σw² / (mini-batches per epoch) on each mini-batch's cost
(``train.l2_mode: per_batch``); the figure is the test accuracy at the best-validation epoch
(``early_stopping`` with the patience of the whole run and ``restore_best``).

    python bench/reference.py run fc100_sigmoid conv20_fc100_sigmoid --out .refruns
    python bench/reference.py run fc100_sigmoid --out /tmp/quick --set train.epochs=1 --set data.limit=2000
    python bench/reference.py record .refruns \
        --json docs/reference-results.json --md docs/reference-results.md

``run`` trains each named experiment into ``OUT/NAME`` (resuming it when a checkpoint is there and
it has not finished); ``record`` reads every ``ROOT/NAME``: a finished run gives its test accuracy;
an unfinished one is recorded as partial, with the epochs completed and the test accuracy of the
best-validation weights so far (kept in its checkpoint by early stopping).

Data: ``$KNOBWISE_DATA_DIR/mnist`` (see ../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from knobwise.config import load_config
from knobwise.data import prepare_data
from knobwise.io import atomic_write_json, atomic_write_text
from knobwise.metrics import logits_metrics
from knobwise.models import build_model
from knobwise.run import resume_config, train_experiment
from knobwise.train import predict_logits
from knobwise.train._checkpoint import load_checkpoint

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class Reference:
    """One experiment of the ladder and the test accuracy reported for it (percent)."""

    config: str
    experiment: str
    reported: float


REFERENCES: dict[str, Reference] = {
    "fc100_sigmoid": Reference("mnist_fc100_sigmoid.yaml", "FC 100 sigmoid + softmax", 97.80),
    "conv20_fc100_sigmoid": Reference(
        "mnist_conv20_fc100_sigmoid.yaml", "+ conv 20x5x5, max-pool 2, then FC 100", 98.78
    ),
    "conv20x2_fc100_sigmoid": Reference(
        "mnist_conv20x2_fc100_sigmoid.yaml", "+ second conv 40x5x5 + pool", 99.06
    ),
    "conv20x2_fc100_relu": Reference("mnist_conv20x2_fc100_relu.yaml", "ReLU instead of sigmoid", 99.23),
    "conv20x2_fc100_relu_expanded": Reference(
        "mnist_conv20x2_fc100_relu_expanded.yaml", "+ training set expanded by 1-pixel shifts", 99.37
    ),
    "conv20x2_fc1000x2_dropout": Reference(
        "mnist_conv20x2_fc1000x2_dropout.yaml", "two FC 1000 with dropout 0.5 (expanded data)", 99.60
    ),
}


def machine() -> str:
    """CPU model, core count and torch threads, for the record."""
    model = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        model = found.group(1).strip() if found else model
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__} with {threads} threads"


def run(names: list[str], out: Path, overrides: list[str]) -> None:
    """Train (or resume) each named experiment into ``out/NAME``."""
    for name in names:
        ref = REFERENCES[name]
        root = out / name
        if (root / "metrics.json").is_file():
            print(f"{name}: finished already ({root})")
            continue
        # Where it runs (threads included), beside the run directory: a partial record needs it too.
        atomic_write_json(out / f"{name}.machine.json", {"name": name, "machine": machine()})
        if (root / "checkpoint").is_dir():
            _, cfg, _ = resume_config(root)
            result = train_experiment(cfg, resume=root, quiet=True)
        else:
            cfg = load_config(EXAMPLES / ref.config, overrides)
            result = train_experiment(cfg, out=root, quiet=True)
        acc = 100 * result.metrics["test"]["accuracy"]
        print(f"{name}: test accuracy {acc:.2f}% (reported {ref.reported:.2f}%), {result.root}")


def _history(root: Path) -> list[dict[str, str]]:
    path = root / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _best_epoch(history: list[dict[str, str]]) -> tuple[int | None, float | None]:
    """The first epoch with the highest val_accuracy (what early stopping restores), 1-based."""
    vals = [float(r["val_accuracy"]) for r in history if r.get("val_accuracy")]
    if not vals:
        return None, None
    best = max(vals)
    return vals.index(best) + 1, best


def _partial_test_accuracy(root: Path) -> float | None:
    """Test accuracy of the best-validation weights an unfinished run keeps in its checkpoint."""
    tensors, _ = load_checkpoint(root / "checkpoint")
    prefixes = sorted({k.split(".", 1)[0] for k in tensors if re.match(r"cb\d+\.", k)})
    if not prefixes:
        return None
    cfg = load_config(root / "config.yaml", [])
    data = prepare_data(cfg.data, seed=cfg.seed, device="cpu")
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    p = prefixes[0] + "."
    model.load_state_dict({k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)})
    test = data.splits["test"]
    return float(logits_metrics(predict_logits(model, test.x), test.y, data.classes)["accuracy"])


def record_one(name: str, root: Path) -> dict[str, Any] | None:
    """The record of ``root`` (finished or partial), or None when it has not started."""
    ref = REFERENCES[name]
    history = _history(root)
    best_epoch, best_val = _best_epoch(history)
    cfg = load_config(EXAMPLES / ref.config, [])
    info = root.parent / f"{name}.machine.json"
    row: dict[str, Any] = {
        "name": name,
        "machine": json.loads(info.read_text())["machine"] if info.is_file() else None,
        "experiment": ref.experiment,
        "config": f"examples/{ref.config}",
        "reported_test_accuracy": ref.reported,
        "epochs_planned": cfg.train.epochs,
        "epochs_completed": len(history),
        "best_validation_epoch": best_epoch,
        "best_validation_accuracy": None if best_val is None else round(100 * best_val, 2),
    }
    metrics_path = root / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        row.update(
            status="finished",
            test_accuracy=round(100 * metrics["test"]["accuracy"], 2),
            wall_time_s=round(sum(float(r["time"]) for r in history), 1),
            device=metrics["run"]["device"],
        )
        return row
    if not (root / "checkpoint").is_dir():
        return None
    acc = _partial_test_accuracy(root)
    row.update(
        status="partial",
        test_accuracy=None if acc is None else round(100 * acc, 2),
        wall_time_s=round(sum(float(r["time"]) for r in history), 1),
        device="cpu",
    )
    return row


def _markdown(rows: list[dict[str, Any]], host: str, note: str | None) -> str:
    lines = [
        "# Reference results",
        "",
        "The MNIST ladder of `examples/` (Nielsen's network3.py recipe: first 50,000 training images to",
        "train, last 10,000 to validate, the 10,000-image test set, mini-batch 10, plain SGD, network3's",
        "init and L2 form), rerun with knobwise. *Reached* is the test accuracy at the best-validation",
        "epoch (the first epoch with the highest validation accuracy). A *partial* row is a run that had",
        "not finished when this page was written: its figure is the test accuracy of the best-validation",
        "weights among the epochs completed so far.",
        "",
        "Differences from network3.py that remain: knobwise reshuffles the mini-batches every epoch",
        "(network3 keeps one order), keeps the first of tied best-validation epochs (network3 the",
        "last), and reads MNIST's IDX files scaled by 1/255. One seed (0) per experiment; the spread",
        "over seeds was not measured.",
        "",
        f"Machine: {host}.",
        *([note, ""] if note else [""]),
        "Reproduce a row (resumes an unfinished run), then rewrite this page:",
        "",
        "```bash",
        "python bench/reference.py run fc100_sigmoid --out .refruns",
        "python bench/reference.py record .refruns --json docs/reference-results.json "
        "--md docs/reference-results.md",
        "```",
        "",
        "| experiment | config | reported | reached | status | epochs | best-val epoch | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reached = "—" if r["test_accuracy"] is None else f"{r['test_accuracy']:.2f}%"
        wall = f"{r['wall_time_s'] / 60:.1f} min"
        lines.append(
            f"| {r['experiment']} | `{r['config']}` | {r['reported_test_accuracy']:.2f}% | {reached} | "
            f"{r['status']} | {r['epochs_completed']}/{r['epochs_planned']} | {r['best_validation_epoch']} | "
            f"{wall} |"
        )
    missing = [n for n in REFERENCES if n not in {r["name"] for r in rows}]
    if missing:
        lines += ["", "Not run yet: " + ", ".join(f"`{n}`" for n in missing) + "."]
    return "\n".join(lines) + "\n"


def record(
    root: Path, json_path: Path | None, md_path: Path | None, note: str | None = None
) -> list[dict[str, Any]]:
    """Records of every experiment found under ``root``, written as JSON and Markdown; an
    experiment not under ``root`` keeps its row from the existing ``json_path`` (runs of one
    ladder may live on different machines or in different sessions)."""
    found = {name: r for name in REFERENCES if (r := record_one(name, root / name)) is not None}
    if json_path is not None and json_path.is_file():
        for old in json.loads(json_path.read_text()).get("results", []):
            found.setdefault(old["name"], old)
    rows = [found[name] for name in REFERENCES if name in found]
    hosts = sorted({r["machine"] for r in rows if r.get("machine")})
    host = "; ".join(hosts) if hosts else machine()
    for r in rows:
        print(
            f"{r['name']}: {r['status']}, {r['epochs_completed']}/{r['epochs_planned']} epochs, "
            f"reached {r['test_accuracy']}% (reported {r['reported_test_accuracy']}%)"
        )
    if json_path is not None:
        atomic_write_json(json_path, {"machine": host, "note": note, "results": rows})
    if md_path is not None:
        atomic_write_text(md_path, _markdown(rows, host, note))
    return rows


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train experiments of the ladder")
    p_run.add_argument("names", nargs="+", choices=sorted(REFERENCES))
    p_run.add_argument("--out", type=Path, default=Path("runs/reference"))
    p_run.add_argument("--set", dest="overrides", action="append", default=[], help="key=value")
    p_rec = sub.add_parser("record", help="write the table of what the runs under ROOT reached")
    p_rec.add_argument("root", type=Path)
    p_rec.add_argument("--json", type=Path)
    p_rec.add_argument("--md", type=Path)
    p_rec.add_argument("--note", help="a line under the machine (load, how the runs were started)")
    args = parser.parse_args()
    if args.command == "run":
        run(args.names, args.out, args.overrides)
    else:
        record(args.root, args.json, args.md, args.note)


if __name__ == "__main__":
    main()
