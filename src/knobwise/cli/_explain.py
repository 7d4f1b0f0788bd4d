"""``knobwise explain RUN [--split dev] [--which W] [--n 16] [--method M] [--target T] [--layer NAME]
[--files F ...] [--boxes FILE.csv | --masks DIR] [--filters] [--out DIR] [--json]``.

Writes ``explain.png`` (the grid) and ``explain.json`` (per example: classes, probabilities, the
map at input resolution) into ``--out`` (default ``RUN/explain/``); with ``--filters`` also
``filters.png`` and ``feature_maps.png``; with boxes or masks ``surroundings.json``, which the
run's report and ``knobwise diagnose`` read.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from knobwise.api import Run, load_run
from knobwise.cli._common import print_json
from knobwise.diagnose import (
    METHODS,
    explain_images,
    feature_maps,
    first_filters,
    load_image_files,
    objects_for,
    require_captum,
)
from knobwise.errors import ConfigError
from knobwise.io import atomic_write_bytes, atomic_write_json
from knobwise.objective import SPLITS
from knobwise.report import explanation_grid, feature_maps_grid, filters_grid


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory")
    p.add_argument("--split", default="dev", choices=SPLITS, help="which split's examples")
    p.add_argument(
        "--which",
        default="misclassified",
        metavar="WHICH",
        help="misclassified (most confident first) | lowest (confidence) | confident | class:NAME",
    )
    p.add_argument("--n", type=int, default=16, metavar="N", help="how many examples")
    p.add_argument(
        "--method",
        default="gradcam",
        metavar="METHOD",
        help=f"attribution method (captum): {' | '.join(METHODS.names())}",
    )
    p.add_argument(
        "--target",
        default="pred",
        choices=["pred", "true", "both"],
        help="explain the predicted class, the true class, or both to see why the wrong class won",
    )
    p.add_argument("--layer", metavar="NAME", help="gradcam: the layer (default: the last convolutional one)")
    p.add_argument("--files", nargs="+", metavar="FILE", help="explain these image files instead of a split")
    p.add_argument(
        "--boxes", metavar="FILE.csv", help="object boxes id,x0,y0,x1,y1 (pixels of the model input)"
    )
    p.add_argument("--masks", metavar="DIR", help="object masks, one image per example named by its id")
    p.add_argument(
        "--filters", action="store_true", help="also draw the first-layer filters and feature maps"
    )
    p.add_argument("--steps", type=int, default=32, metavar="N", help="integrated_gradients: steps")
    p.add_argument("--out", metavar="DIR", help="where the figures and JSON go (default: RUN/explain/)")
    p.add_argument("--json", action="store_true", help="print the explanation (with the maps) as JSON")


def _explain(args: argparse.Namespace, run_: Run) -> Any:
    kw = {"method": args.method, "target": args.target, "layer": args.layer, "steps": args.steps}
    if not args.files:
        return run_.explain(args.split, which=args.which, n=args.n, boxes=args.boxes, masks=args.masks, **kw)
    model, data = run_.model, run_.data
    x = load_image_files(args.files, data.input_shape, data.normalizer)
    ids = [str(f) for f in args.files]
    objects = objects_for(ids, x.shape[-2], x.shape[-1], args.boxes, args.masks)
    return explain_images(
        model, x, classes=list(data.classes), normalizer=data.normalizer, ids=ids, objects=objects, **kw
    )


def _filters(args: argparse.Namespace, run_: Run, out: Path) -> dict[str, Any]:
    model, data = run_.model, run_.data
    layer, weights = first_filters(model)
    atomic_write_bytes(out / "filters.png", filters_grid(weights, layer).png)
    split = next((s for s in (args.split, "dev", "test", "train") if len(data.splits.get(s, ()))), None)
    written = [str(out / "filters.png")]
    if split is not None:
        maps = feature_maps(model, data.splits[split].x[:1])
        atomic_write_bytes(out / "feature_maps.png", feature_maps_grid(maps, layer).png)
        written.append(str(out / "feature_maps.png"))
    return {
        "layer": layer,
        "filters": int(weights.shape[0]),
        "shape": list(weights.shape[1:]),
        "files": written,
    }


def _print(out: dict[str, Any]) -> None:
    ex = out.get("explanation")
    if ex is not None:
        layer = f" on {ex['layer']}" if ex["layer"] else ""
        n = len(ex["examples"])
        what = f"{n} {ex['split']} examples ({ex['which']})" if ex["split"] else f"{n} image files"
        print(f"{ex['method']}{layer}: {what} in {ex['seconds']:.2f} s")
        for e in ex["examples"]:
            true = e["true"] if e["true"] is not None else "?"
            mass = e["attributions"][0]["mass_inside"]
            inside = f", {100 * mass:.0f}% of the mass inside the object" if mass is not None else ""
            print(f"  {e['id']}: true {true}, predicted {e['predicted']} (p={e['probability']:.3f}){inside}")
        sur = ex["surroundings"]
        if sur.get("kind") == "objects":
            print(f"mass inside the objects: {100 * (sur['mean_inside'] or 0):.0f}% on average")
            if sur.get("warning"):
                print(f"warning: {sur['warning']}")
        elif sur.get("hint"):
            print(f"hint: {sur['hint']}")
    if "filters" in out:
        f = out["filters"]
        print(f"first layer {f['layer']}: {f['filters']} filters of {'x'.join(map(str, f['shape']))}")
    for path in out["files"]:
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.method not in METHODS.names():
        METHODS.get(args.method)  # the registry's line: close matches and what is available
    if args.boxes and args.masks:
        raise ConfigError("give either --boxes or --masks, not both")
    run_ = load_run(args.run, device="cpu")
    run_dir = run_.root
    out_dir = Path(args.out) if args.out else run_dir / "explain"
    result: dict[str, Any] = {"run": str(run_dir), "files": []}
    explain = not args.filters or args.files or args.boxes or args.masks or args.which != "misclassified"
    if explain:
        require_captum()
        started = time.perf_counter()
        ex = _explain(args, run_)
        grid = explanation_grid(ex)
        d = ex.to_dict()
        d["seconds_with_figure"] = time.perf_counter() - started
        atomic_write_bytes(out_dir / "explain.png", grid.png)
        atomic_write_json(out_dir / "explain.json", d)
        result["files"] += [str(out_dir / "explain.png"), str(out_dir / "explain.json")]
        if d["surroundings"].get("kind") == "objects":
            verdict = {**d["surroundings"], "source": str(args.boxes or args.masks), "method": ex.method}
            atomic_write_json(run_dir / "explain" / "surroundings.json", verdict)
            result["files"].append(str(run_dir / "explain" / "surroundings.json"))
        result["explanation"] = d
    if args.filters:
        result["filters"] = _filters(args, run_, out_dir)
        result["files"] += result["filters"]["files"]
    if args.json:
        print_json(result)
    else:
        _print(result)
    return 0
