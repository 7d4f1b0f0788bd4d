"""``knobwise tune`` against a hand-written Optuna loop: the same study, timed as whole commands.

The study: the quickstart (digits, the ``digits_cnn`` model, Adam with a cosine schedule), 2 epochs
per trial, 12 trials of Optuna's TPE sampler (seed 0, the settings knobwise uses: multivariate,
4 startup trials) over ``train.optimizer.lr`` (log, 1e-4..3e-2) and ``train.batch_size``
(16/32/64), one SQLite file per study.

- **knobwise**: ``python -m knobwise tune examples/quickstart.yaml --space ... --trials 12
  --set train.epochs=2 [--workers 2]`` (every trial is a full run directory: config, history,
  checkpoints, weights, predictions, metrics).
- **plain**: this file with ``--plain-worker``: an ordinary in-process ``study.optimize`` loop that
  prepares the digits once (knobwise's ``prepare_data``, so both see the same split), builds the
  same model (``build_model``) and trains it with plain PyTorch (``torch.optim.Adam``,
  ``CosineAnnealingLR``, a shuffled mini-batch loop, dev accuracy reported to the trial each
  epoch); with 2 workers, two such processes share the storage (``MaxTrialsCallback(12)``), the
  way Optuna's documentation runs a study in parallel.

Both are whole processes (interpreter start and imports included), run alternately ``--rounds``
times; the medians and the ratio knobwise / plain are printed for 1 and 2 workers (target: <= 1.25).
The per-trial split of knobwise's 1-worker study is printed too: the trial's own work (data,
training, evaluation, run files; measured inside the trial) and the rest (sampling, storage).

    python bench/tune_overhead.py                  # 2 rounds of 1 and 2 workers
    python bench/tune_overhead.py --rounds 3 --workers 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
SPACE = {
    "train.optimizer.lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
    "train.batch_size": [16, 32, 64],
}
EPOCHS = 2


def plain_worker(storage: str, study_name: str, trials: int, seed: int) -> None:
    """The hand-written loop: one process, data prepared once, plain PyTorch training per trial."""
    import optuna
    import torch
    import torch.nn.functional as F

    from knobwise.config import load_config
    from knobwise.data import prepare_data
    from knobwise.models import build_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_config(str(QUICKSTART), [f"train.epochs={EPOCHS}"])
    data = prepare_data(cfg.data, seed=cfg.seed, withhold=("test",))
    train, dev = data.splits["train"], data.splits["dev"]

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train.optimizer.lr", 1e-4, 3e-2, log=True)
        batch = trial.suggest_categorical("train.batch_size", [16, 32, 64])
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
        g = torch.Generator().manual_seed(cfg.seed)
        acc = 0.0
        for epoch in range(EPOCHS):
            model.train()
            perm = torch.randperm(len(train), generator=g)
            for start in range(0, len(train), batch):
                idx = perm[start : start + batch]
                loss = F.cross_entropy(model(train.x[idx]), train.y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            model.eval()
            with torch.no_grad():
                acc = (model(dev.x).argmax(1) == dev.y).float().mean().item()
            trial.report(acc, epoch + 1)
        return acc

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, multivariate=True)
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=sampler, direction="maximize", load_if_exists=True
    )
    stop = optuna.study.MaxTrialsCallback(trials, states=None)  # several processes share the budget
    study.optimize(objective, n_trials=trials, callbacks=[stop])


def _plain(tmp: Path, workers: int, trials: int) -> tuple[float, int]:
    db = tmp / f"plain-{uuid.uuid4().hex[:6]}.db"
    name = db.stem
    url = f"sqlite:///{db}"
    import optuna

    optuna.create_study(storage=url, study_name=name, direction="maximize")  # before the workers race
    cmd = [sys.executable, __file__, "--plain-worker", "--storage", url, "--study", name,
           "--trials", str(trials)]  # fmt: skip
    start = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--seed", str(1000 * i)], env=_env(workers)) for i in range(workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"plain worker failed: exit codes {codes}")
    return wall, len(optuna.load_study(study_name=name, storage=url).trials)


def _env(workers: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:  # as knobwise tune --workers N does
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    return env


def _knobwise(tmp: Path, workers: int, trials: int, space: Path) -> tuple[float, Path]:
    out = tmp / f"kw-{uuid.uuid4().hex[:6]}"
    cmd = [sys.executable, "-m", "knobwise", "tune", str(QUICKSTART), "--space", str(space),
           "--sampler", "tpe", "--trials", str(trials), "--set", f"train.epochs={EPOCHS}",
           "--out", str(out), "--study", out.name, "--workers", str(workers), "-q"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(1), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"knobwise tune failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, out


def per_trial(out: Path) -> str:
    """Mean trial work and mean time between trial completions of a 1-worker knobwise study."""
    import optuna

    study = optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}")
    done = sorted(study.trials, key=lambda t: t.datetime_complete)
    pairs = zip(done, done[1:], strict=False)
    gaps = [(b.datetime_complete - a.datetime_complete).total_seconds() for a, b in pairs]
    own = [t.user_attrs["train_s"] for t in done[1:]]
    first = (done[0].datetime_complete - done[0].datetime_start).total_seconds()
    return (
        f"per trial after the first: {statistics.mean(gaps):.2f} s between completions, of which "
        f"{statistics.mean(own):.2f} s the trial's own work and "
        f"{1000 * (statistics.mean(gaps) - statistics.mean(own)):.0f} ms the rest; first trial {first:.2f} s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--plain-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--storage", help=argparse.SUPPRESS)
    p.add_argument("--study", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.plain_worker:
        plain_worker(args.storage, args.study, args.trials, args.seed)
        return
    import yaml

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        space = tmp / "space.yaml"
        space.write_text(yaml.safe_dump(SPACE))
        times: dict[tuple[str, int], list[float]] = {}
        notes: list[str] = []
        for r in range(args.rounds):
            for workers in args.workers:
                wall, n = _plain(tmp, workers, args.trials)
                times.setdefault(("plain", workers), []).append(wall)
                print(f"round {r + 1}: plain    {workers} worker(s) {wall:6.1f} s ({n} trials)", flush=True)
                wall, out = _knobwise(tmp, workers, args.trials, space)
                times.setdefault(("knobwise", workers), []).append(wall)
                print(f"round {r + 1}: knobwise {workers} worker(s) {wall:6.1f} s", flush=True)
                if workers == 1:
                    notes.append(per_trial(out))
        print(f"\n{args.trials} trials x {EPOCHS} epochs, TPE, SQLite; medians of {args.rounds} (alternated)")
        for workers in args.workers:
            plain = statistics.median(times[("plain", workers)])
            kw = statistics.median(times[("knobwise", workers)])
            verdict = "ok" if kw / plain <= 1.25 else "ABOVE TARGET"
            print(f"{workers} worker(s): knobwise {kw:.1f} s, plain {plain:.1f} s, "
                  f"ratio {kw / plain:.2f} (target <= 1.25: {verdict})")  # fmt: skip
        for note in notes:
            print("knobwise 1 worker, " + note)


if __name__ == "__main__":
    main()
