"""Start-up and fixed costs of a small run: where the seconds of a 1-epoch quickstart go.

Five commands, run alternately ``--rounds`` times (medians printed):

- ``python -c "import torch"``: the floor every PyTorch program pays;
- ``python -c "import torch, torch._dynamo"``: what a program that creates a ``torch.optim``
  optimizer pays (its first parameter group imports ``torch._dynamo``), printed as a second floor;
- ``python -m knobwise --help``;
- ``knobwise train --set train.epochs=1`` on the quickstart (digits, ``digits_cnn``), run through a
  small driver that times its phases: ``import torch``, importing knobwise's CLI (beyond torch),
  data (``prepare_data``), model and optimizer (``build_model``, ``Trainer``), training
  (``Trainer.fit``), evaluation (``evaluate_splits`` and the objective), the report
  (``Run.report``), the rest of the command, and the whole process (timed from outside);
- a plain PyTorch script that trains the same network on the same digits split for one epoch and
  evaluates it, timing the same phases. It pays fixed costs of its own beyond ``import torch``:
  scikit-learn's import for the digits and the split, and ``torch._dynamo``'s import, which every
  ``torch.optim`` optimizer triggers when it adds its first parameter group; both are printed, and
  knobwise's overhead beyond the plain script's.

Targets (2-core CPU): the whole process minus training and evaluation <= 1.5 s beyond
``import torch``; ``knobwise --help`` <= 0.5 s beyond the bare interpreter.

``--as-installed`` runs the knobwise command as the README's quickstart install has it: without
the optional extras (captum is hidden from it), so its report has no attribution section and
imports no matplotlib (captum's own import loads it). By default the command runs with whatever
this environment has (the development install has captum).

Peak memory: ru_maxrss of the child process (``os.wait4``) of the same 1-epoch ``knobwise train``
against the plain PyTorch script (target: <= 1.5x).

    python bench/startup.py
    python bench/startup.py --rounds 5
    python bench/startup.py --rounds 5 --as-installed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

PLAIN = """
import json, sys, time
t0 = time.perf_counter()
import torch, torch.nn as nn, torch.nn.functional as F
times = {"import torch": time.perf_counter() - t0}
t = time.perf_counter()
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)
y = torch.tensor(d.target)
idx = torch.arange(len(y)).numpy()
tr, rest = train_test_split(idx, train_size=0.7, stratify=d.target, random_state=0)
dev, te = train_test_split(rest, train_size=0.5, stratify=d.target[rest], random_state=0)
mean, std = x[tr].mean(), x[tr].std()
x = (x - mean) / std
times["data"] = time.perf_counter() - t
t = time.perf_counter()
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding="same"), nn.ReLU(), nn.Conv2d(16, 32, 3, padding="same"), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.25), nn.Linear(64, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=0.003)  # its first param group imports torch._dynamo
times["model and optimizer"] = time.perf_counter() - t
t = time.perf_counter()
model.train()
perm = torch.as_tensor(tr)[torch.randperm(len(tr))]
for s in range(0, len(perm), 32):
    b = perm[s : s + 32]
    loss = F.cross_entropy(model(x[b]), y[b])
    opt.zero_grad()
    loss.backward()
    opt.step()
times["training"] = time.perf_counter() - t
t = time.perf_counter()
model.eval()
with torch.no_grad():
    accs = [(model(x[torch.as_tensor(s)]).argmax(1) == y[torch.as_tensor(s)]).float().mean().item()
            for s in (tr, dev, te)]
times["evaluation"] = time.perf_counter() - t
open(sys.argv[1], "w").write(json.dumps(times))
"""


def driver(out: str, result: str, as_installed: bool = False) -> None:
    """Run ``knobwise train --set train.epochs=1`` in this process, timing its phases
    (``as_installed``: with captum hidden, as a default install lacks it)."""
    if as_installed:
        sys.modules["captum"] = None  # type: ignore[assignment]  # import captum now raises ImportError
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    import torch  # noqa: F401 - the phase being timed

    times["import torch"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    from knobwise.cli import main

    times["import knobwise CLI"] = time.perf_counter() - t1

    def timed(owner: Any, name: str, phase: str) -> None:
        fn = getattr(owner, name, None)
        if fn is None:
            return  # the layout changed: the phase is counted in "rest"

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[phase] = times.get(phase, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapper)

    t2 = time.perf_counter()  # what the train command imports when it runs (lazily or not)
    import knobwise.api
    import knobwise.run._train as train_mod
    from knobwise.train import Trainer

    times["import train path"] = time.perf_counter() - t2
    timed(train_mod, "prepare_data", "data")
    timed(train_mod, "build_model", "model and optimizer")
    timed(Trainer, "__init__", "model and optimizer")  # creates the optimizer (imports torch._dynamo)
    timed(Trainer, "fit", "training")
    timed(train_mod, "evaluate_splits", "evaluation")
    timed(train_mod, "objective_of", "evaluation")
    timed(knobwise.api.Run, "report", "report")
    t3 = time.perf_counter()
    sys.argv = ["knobwise", "train", "--set", "train.epochs=1", "--out", out, "--quiet"]
    code = main()  # as the console script calls it (the process ends with the command)
    command = time.perf_counter() - t3
    phases = ("data", "model and optimizer", "training", "evaluation", "report")
    known = sum(times.get(k, 0.0) for k in phases)
    times["rest of the command"] = command - known
    Path(result).write_text(json.dumps({"code": code, "times": times}))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _wall(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--as-installed", action="store_true", help="hide the optional extras (captum)")
    p.add_argument("--driver", nargs=2, metavar=("OUT", "RESULT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.driver:
        driver(*args.driver, as_installed=args.as_installed)
        return
    extras = ["--as-installed"] if args.as_installed else []
    py = sys.executable
    walls: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    phases: list[dict[str, float]] = []
    plain_phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        plain = tmp / "plain.py"
        plain.write_text(PLAIN)
        for r in range(args.rounds):
            result = tmp / f"phases-{r}.json"
            runs = {
                "python (bare)": [py, "-c", "pass"],
                "import torch": [py, "-c", "import torch"],
                "import torch + torch._dynamo": [py, "-c", "import torch, torch._dynamo"],
                "knobwise --help": [py, "-m", "knobwise", "--help"],
                "knobwise train": [py, __file__, "--driver", str(tmp / f"run-{r}"), str(result), *extras],
                "plain PyTorch script": [py, str(plain), str(tmp / f"plain-{r}.json")],
            }
            for name, cmd in runs.items():
                wall, peak = _wall(cmd, tmp)
                walls.setdefault(name, []).append(wall)
                rss.setdefault(name, []).append(peak)
            phases.append(json.loads(result.read_text())["times"])
            plain_phases.append(json.loads((tmp / f"plain-{r}.json").read_text()))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items()), flush=True)

    med = {k: statistics.median(v) for k, v in walls.items()}
    names = list(phases[0])
    for extra in ("data", "model and optimizer", "training", "evaluation", "report"):
        if extra not in names:
            names.insert(-1, extra)
    print(f"\nphases of `knobwise train --set train.epochs=1` (quickstart), medians of {args.rounds}:")
    ph = {n: statistics.median(x.get(n, 0.0) for x in phases) for n in names}
    for n in names:
        print(f"  {n:<22}{ph[n]:7.2f} s")
    print(f"  {'whole process':<22}{med['knobwise train']:7.2f} s "
          f"(the plain PyTorch script: {med['plain PyTorch script']:.2f} s)")  # fmt: skip
    overhead = med["knobwise train"] - ph["training"] - ph["evaluation"] - med["import torch"]
    ok = "ok" if overhead <= 1.5 else "ABOVE TARGET"
    print(f"\nwhole process - training - evaluation - `import torch` = {overhead:.2f} s "
          f"(target <= 1.5: {ok})")  # fmt: skip
    pp = {n: statistics.median(x[n] for x in plain_phases) for n in plain_phases[0]}
    print("the plain PyTorch script's own phases: " + ", ".join(f"{n} {v:.2f} s" for n, v in pp.items()))
    plain_over = med["plain PyTorch script"] - pp["training"] - pp["evaluation"] - med["import torch"]
    print(
        f"plain script: whole process - training - evaluation - `import torch` = {plain_over:.2f} s "
        "(scikit-learn's import for its data, torch._dynamo's import at the optimizer's creation)"
    )
    print(f"knobwise's overhead beyond the plain script's: {overhead - plain_over:+.2f} s")
    dynamo = med["import torch + torch._dynamo"] - med["import torch"]
    beyond = overhead - dynamo
    ok = "ok" if beyond <= 1.5 else "ABOVE TARGET"
    print(f"torch._dynamo's import (every torch.optim optimizer's first param group): {dynamo:.2f} s; "
          f"the overhead beyond `import torch` and it: {beyond:.2f} s (<= 1.5: {ok})")  # fmt: skip
    print(f"python bare {med['python (bare)']:.2f} s, `import torch` {med['import torch']:.2f} s")
    help_s = med["knobwise --help"] - med["python (bare)"]
    ok = "ok" if help_s <= 0.5 else "ABOVE TARGET"
    print(f"`knobwise --help` {med['knobwise --help']:.2f} s, {help_s:.2f} s beyond the bare interpreter "
          f"(target <= 0.5: {ok}); {med['knobwise --help'] / med['import torch']:.2f}x "
          "`import torch`")  # fmt: skip
    kw, pl = statistics.median(rss["knobwise train"]), statistics.median(rss["plain PyTorch script"])
    ok = "ok" if kw / pl <= 1.5 else "ABOVE TARGET"
    print(f"peak memory: knobwise train {kw:.0f} MiB, plain PyTorch {pl:.0f} MiB, "
          f"ratio {kw / pl:.2f} (target <= 1.5: {ok})")  # fmt: skip


if __name__ == "__main__":
    main()
