"""``knobwise errors RUN [--split dev] [--export FILE.csv] [--tags FILE.csv] [--label-issues] [--json]``."""

from __future__ import annotations

import argparse
from typing import Any

from knobwise.api import Run, load_run
from knobwise.cli._common import print_json
from knobwise.data import find_leakage
from knobwise.diagnose import attribute_lines, export_errors, run_attribute_analysis, tag_shares
from knobwise.errors import ConfigError
from knobwise.objective import SPLITS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory")
    p.add_argument(
        "--split",
        default="dev",
        choices=SPLITS,
        help="which split to analyze",
    )
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows per list")
    p.add_argument(
        "--export",
        nargs="?",
        const="",
        metavar="FILE.csv",
        help="write the misclassified examples with empty tag columns (default: RUN/errors.csv)",
    )
    p.add_argument("--tags", metavar="FILE.csv", help="a filled-in export: print the share of errors per tag")
    p.add_argument(
        "--label-issues",
        action="store_true",
        help="rank training examples by how likely their label is wrong (k-fold, confident learning)",
    )
    p.add_argument("--folds", type=int, default=4, metavar="K", help="--label-issues: folds")
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="--label-issues: epochs per fold model (default: the run's epochs, at most 3)",
    )
    p.add_argument(
        "--clusters",
        type=int,
        default=0,
        metavar="K",
        help="--label-issues: also check labels against K k-means clusters of penultimate features; 0: off",
    )
    p.add_argument(
        "--out",
        metavar="FILE.csv",
        default=None,
        help="--label-issues: where to write the suspects (default: RUN/label_issues.csv)",
    )
    p.add_argument("--no-leakage", action="store_true", help="skip the near-duplicate check across splits")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")


def _label_issues(args: argparse.Namespace, run_: Run) -> dict[str, Any]:
    cfg = run_.config
    epochs = args.epochs if args.epochs is not None else min(cfg.train.epochs, 3)
    res = run_.label_issues(folds=args.folds, epochs=epochs, clusters=args.clusters or None, top=args.top)
    out = args.out or str(run_.root / "label_issues.csv")
    res.write_csv(out)
    return {
        "flagged": res.flagged,
        "examples": len(run_.data.splits["train"]),
        "seconds": res.seconds,
        "csv": out,
        "settings": res.settings,
        "top": res.rows[: args.top],
    }


def label_issue_lines(rows: list[dict[str, Any]], flagged: int) -> list[str]:
    """The listed suspects: the flagged ones (each group by score, highest first), then a cutoff
    line and the next most suspicious, which are not flagged (and not dropped by data.exclude).

    >>> rows = [{"rank": 1, "id": None, "index": 4, "label": "1", "suggested": "7", "score": 0.9,
    ...          "flagged": True},
    ...         {"rank": 2, "id": "a.png", "index": 9, "label": "3", "suggested": "3", "score": 0.95,
    ...          "flagged": False}]
    >>> print("\\n".join(label_issue_lines(rows, 1)))
      flagged (1, by score):
        1. #4: labeled 1, looks like 7 (score 0.900)
      not flagged, the next most suspicious (1, by score; kept by data.exclude):
        2. a.png: labeled 3, model's top class 3 (score 0.950)
    """
    out = []
    groups = [
        ([r for r in rows if r["flagged"]], "flagged ({n}, by score):"),
        (
            [r for r in rows if not r["flagged"]],
            "not flagged, the next most suspicious ({n}, by score; kept by data.exclude):",
        ),
    ]
    for group, head in groups:
        if not group:
            continue
        out.append("  " + head.format(n=len(group)))
        for r in group:
            name = r["id"] if r["id"] is not None else f"#{r['index']}"
            looks = f"looks like {r['suggested']}" if r["flagged"] else f"model's top class {r['suggested']}"
            out.append(f"    {r['rank']}. {name}: labeled {r['label']}, {looks} (score {r['score']:.3f})")
    if flagged > sum(r["flagged"] for r in rows):
        out.append(f"  ... {flagged - sum(r['flagged'] for r in rows)} more flagged in the CSV")
    return out


def _print(out: dict[str, Any]) -> None:
    a = out["analysis"]
    print(f"{out['split']}: {a['errors']} errors in {a['examples']} examples ({a['error']:.2f}%)")
    print("errors by true class (fix the most numerous first):")
    for c in a["per_class"]:
        if c["errors"]:
            print(
                f"  {c['class']:<12} {c['errors']:>5}  {100 * c['share']:5.1f}% of errors  "
                f"error if fixed {c['error_if_fixed']:.2f}%"
            )
    print("top confusions (true -> predicted):")
    for c in a["confusions"]:
        print(
            f"  {c['true']} -> {c['predicted']:<10} {c['errors']:>5}  {100 * c['share']:5.1f}%  "
            f"error if fixed {c['error_if_fixed']:.2f}%"
        )
    for key in ("lowest_confidence_incorrect", "most_confident_incorrect", "lowest_confidence_correct"):
        rows = a[key]
        if rows:
            print(key.replace("_", " ") + ":")
            for r in rows:
                name = r["id"] if r["id"] is not None else f"#{r['index']}"
                print(f"  {name}: true {r['true']}, predicted {r['predicted']} (p={r['probability']:.3f})")
    for s in a["per_source"]:
        print(f"source {s['source']}: {s['errors']}/{s['examples']} wrong ({s['error']:.2f}%)")
    if "tags" in out:
        t = out["tags"]
        print(f"tags ({t['reviewed']} errors reviewed):")
        for row in t["tags"]:
            share, ceiling = 100 * row["share"], row["error_if_fixed"]
            print(f"  {row['tag']:<12} {share:5.1f}% of errors  error if fixed {ceiling:.2f}%")
    if "export" in out:
        print(f"exported {out['export']['rows']} misclassified examples to {out['export']['path']}")
    if "label_issues" in out:
        li = out["label_issues"]
        print(
            f"label issues: {li['flagged']} of {li['examples']} training labels flagged "
            f"({li['seconds']:.1f} s); ranked list in {li['csv']}"
        )
        for line in label_issue_lines(li["top"], li["flagged"]):
            print(line)
    if "leakage" in out:
        print(out["leakage"]["summary"])
    if "attributes" in out:  # tabular runs
        print("\n".join(attribute_lines(out["attributes"])))


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    run_ = load_run(args.run, device="cpu")
    preds, classes = run_.predictions(args.split), run_.classes
    out: dict[str, Any] = {
        "run": args.run,
        "split": args.split,
        "analysis": run_.errors(args.split, top=args.top),
    }
    attrs = run_attribute_analysis(run_, args.split, out["analysis"])
    if attrs is not None:
        out["attributes"] = attrs
    if args.tags:
        out["tags"] = tag_shares(preds, classes, args.tags)
    if args.export is not None:
        export = args.export or str(run_.root / "errors.csv")
        out["export"] = {"path": export, "rows": export_errors(preds, classes, export)}
    if args.label_issues:
        out["label_issues"] = _label_issues(args, run_)
    if not args.no_leakage:
        report = find_leakage(run_.data)
        out["leakage"] = {**report.to_dict(), "summary": report.summary()}
    if args.json:
        print_json(out)
    else:
        _print(out)
    return 0
