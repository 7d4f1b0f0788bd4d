"""The time the tuning machinery adds per trial, relative to the trial's own work.

A study of N trials (random sampler, one worker) is run on a config calibrated so that one trial
takes about ``--trial-seconds`` (digits, an MLP, as many epochs as that takes, and the run's
report). For each trial after the first, the wall time between two consecutive trial completions
is split into the trial's own work (measured inside the trial process: data, training,
evaluation, report) and the rest: the process start (fork from the worker's forkserver), Optuna's
sampling and storage traffic (ask, per-epoch reports, user attributes, tell, heartbeats) and
knobwise's bookkeeping (study.json, best_config.yaml). The first trial also pays the one-time
start of the forkserver, which is printed separately.

    python bench/tune_overhead.py                           # SQLite, and PostgreSQL when
    python bench/tune_overhead.py --postgres URL            # $KNOBWISE_TEST_POSTGRES_URL is set

Target: overhead <= 5% of the trial time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import optuna
import yaml

from knobwise.config import load_config
from knobwise.run import train_experiment
from knobwise.tune import TuneRequest, run_study

BASE = ["model.name=mlp", "model.options.hidden=[64]", "train.batch_size=32", "seed=0"]


def _trial_seconds(epochs: int, tmp: Path) -> tuple[float, float]:
    """(total seconds, seconds per epoch) of one in-process trial."""
    cfg = load_config(None, [*BASE, f"train.epochs={epochs}"])
    start = time.perf_counter()
    result = train_experiment(
        cfg, tmp / f"calib-{uuid.uuid4().hex[:6]}", quiet=True, withhold_splits=("test",)
    )
    total = time.perf_counter() - start
    return total, statistics.median(float(row["time"]) for row in result.history)


def calibrate(target: float, tmp: Path) -> int:
    """Epochs that make one trial take about ``target`` seconds on this machine."""
    _trial_seconds(1, tmp)  # warm-up: imports, data cache
    total, per_epoch = _trial_seconds(4, tmp)
    fixed = total - 4 * per_epoch  # data, evaluation, report
    return max(1, round((target - fixed) / per_epoch))


def run(storage: str | None, label: str, epochs: int, trials: int, tmp: Path) -> dict[str, float]:
    space = tmp / "space.yaml"
    space.write_text(
        yaml.safe_dump({"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}})
    )
    out = tmp / f"study-{label}-{uuid.uuid4().hex[:6]}"
    req = TuneRequest(
        config=None, space=str(space), sampler="random", trials=trials, out=str(out), storage=storage,
        study=out.name, overrides=[*BASE, f"train.epochs={epochs}"], quiet=True,
    )  # fmt: skip
    start = time.time()
    run_study(req)
    total = time.time() - start
    url = storage or f"sqlite:///{out / 'study.db'}"
    done = sorted(
        optuna.load_study(study_name=out.name, storage=url).trials, key=lambda t: t.datetime_complete
    )
    walls = [
        (b.datetime_complete - a.datetime_complete).total_seconds()
        for a, b in zip(done, done[1:], strict=False)
    ]
    own = [b.user_attrs["train_s"] for b in done[1:]]
    overhead = [w - o for w, o in zip(walls, own, strict=True)]
    first = (done[0].datetime_complete - done[0].datetime_start).total_seconds() - done[0].user_attrs[
        "train_s"
    ]
    return {
        "trial_s": statistics.mean(own),
        "overhead_s": statistics.mean(overhead),
        "ratio": statistics.mean(overhead) / statistics.mean(own),
        "first_trial_extra_s": first,
        "total_s": total,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--trial-seconds", type=float, default=5.0)
    p.add_argument("--postgres", default=os.environ.get("KNOBWISE_TEST_POSTGRES_URL"))
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        epochs = calibrate(args.trial_seconds, tmp)
        print(
            f"calibrated: {epochs} epochs of digits/MLP ≈ {args.trial_seconds:g} s per trial; "
            f"{args.trials} trials"
        )
        storages: list[tuple[str, str | None]] = [("sqlite", None)]
        if args.postgres:
            storages.append(("postgresql", args.postgres))
        else:
            print("postgresql: skipped (pass --postgres URL or set KNOBWISE_TEST_POSTGRES_URL)")
        for label, url in storages:
            r = run(url, label, epochs, args.trials, tmp)
            verdict = "ok" if r["ratio"] <= 0.05 else "ABOVE TARGET"
            print(
                f"{label:<10} trial {r['trial_s']:.2f} s, machinery {1000 * r['overhead_s']:.0f} ms/trial, "
                f"ratio {100 * r['ratio']:.1f}% (target <= 5%: {verdict}); first trial "
                f"+{r['first_trial_extra_s']:.2f} s (forkserver start), study {r['total_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
