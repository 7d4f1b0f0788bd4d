#!/usr/bin/env bash
# Every GPU check and benchmark in one run, for a session that is lent a CUDA machine (15 minutes of
# device time, 10 per command). Prepare here first, then run it there from the repository root:
#
#   bash bench/gpu_prepare.sh                  # wheels in .whl/, MNIST in .gpu-data/ (git-ignored)
#   device run: command "bash bench/gpu.sh", carry [".whl", ".gpu-data"], timeout_s 560
#
# Steps, each under its own time limit so that a slow one cannot eat the others' time, all within
# BUDGET seconds (500: a 560 s command with room for the install and the summary); what each
# printed goes to $OUT/gpu.log and the quickstart's figures to $OUT/gpu-summary.md:
#   1. the tests marked gpu (bf16, channels-last, no host sync in the step, compile, populations);
#   2. bench/population.py on the MNIST conv-20 net and the digits CNN, N = 1, 4, 8, 16;
#   3. bench/overhead.py: knobwise's epoch against a plain PyTorch loop on the GPU;
#   4. the quickstart under bf16 / fp32 / channels-last / compile, epoch times and accuracies;
#   5. the MNIST ladder's first rungs (bench/reference.py) for what is left of the time, recorded
#      as finished or partial runs.
#
# DEVICE=cpu QUICK=1 bash bench/gpu.sh runs the same steps, small, on a CPU: a check of the script.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/knobwise-gpu-out}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
RUNS=${RUNS:-/tmp/knobwise-gpu-runs}
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-500}
T0=$(date +%s)
mkdir -p "$OUT" "$RUNS"
# The GPU image lacks pydantic, optuna and kornia: install the carried wheels beside the repository.
if ! "$PY" -c "import pydantic, optuna, kornia" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/knobwise-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/knobwise-site:$PWD/src
else
  export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -d .gpu-data ]; then export KNOBWISE_DATA_DIR=$PWD/.gpu-data; fi
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 KNOBWISE_CACHE_DIR=$RUNS/cache

# step NAME SECONDS COMMAND...: run COMMAND under a time limit and log how it ended.
step() {
  local name=$1 limit=$2 start rc
  shift 2
  echo "=== $name (limit ${limit} s): $*"
  start=$(date +%s)
  timeout --signal=INT --kill-after=10 "$limit" "$@"
  rc=$?
  echo "=== $name: exit $rc after $(($(date +%s) - start)) s"
}

if [ "$QUICK" = 1 ]; then
  sizes=(1 4) rounds=1 limit=1000 epochs=1 ladder_epochs=1 ladder_limit=(--set data.limit=1200)
else
  sizes=(1 4 8 16) rounds=2 limit=10000 epochs=3 ladder_epochs=60 ladder_limit=()
fi

{
  date -u
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi
  "$PY" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"

  step tests 120 "$PY" -m pytest -p no:cacheprovider -q -rs -m gpu \
    tests/train/test_cuda.py tests/data/test_prepare.py tests/metrics/test_latency.py

  step population 90 "$PY" bench/population.py --device "$DEVICE" --nets conv20 digits_cnn \
    --sizes "${sizes[@]}" --rounds "$rounds"

  step overhead 45 "$PY" bench/overhead.py --device "$DEVICE" --limit "$limit" --rounds "$rounds"

  for variant in "bf16 40 train.precision=bf16" "fp32 40 train.precision=fp32" \
    "fp32-nchw 40 train.precision=fp32 train.channels_last=false" "bf16-compile 90 train.compile=true"; do
    read -r name seconds sets <<<"$variant"
    args=()
    for s in $sets; do args+=(--set "$s"); done
    step "quickstart-$name" "$seconds" "$PY" -m knobwise train --quiet --set train.device="$DEVICE" \
      --set train.epochs="$epochs" "${args[@]}" --out "$RUNS/quickstart-$name"
  done

  # What remains of the budget goes to the ladder; an interrupted rung is recorded as partial.
  left=$((BUDGET - ($(date +%s) - T0) - 25))
  step ladder $((left > 30 ? left : 30)) "$PY" bench/reference.py run fc100_sigmoid conv20_fc100_sigmoid --out "$RUNS/ladder" \
    --set train.device="$DEVICE" --set train.epochs="$ladder_epochs" "${ladder_limit[@]}"
  step ladder-record 30 "$PY" bench/reference.py record "$RUNS/ladder" --json "$OUT/ladder.json" \
    --md "$OUT/ladder.md" --note "bench/gpu.sh on $DEVICE, ${left} s for the rungs"
} 2>&1 | tee "$OUT/gpu.log"

"$PY" - "$RUNS" "$OUT/gpu-summary.md" <<'PYEOF'
"""Epoch times and accuracies of the quickstart variants, as a Markdown table."""
import csv
import json
import sys
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
lines = ["| quickstart variant | epochs | median epoch s | first epoch s | dev accuracy |", "|---|---|---|---|---|"]
for run in sorted(runs.glob("quickstart-*")):
    history = run / "history.csv"
    metrics = run / "metrics.json"
    if not history.is_file() or not metrics.is_file():
        lines.append(f"| {run.name[11:]} | did not finish | | | |")
        continue
    times = sorted(float(row["time"]) for row in csv.DictReader(history.open()))
    first = float(next(csv.DictReader(history.open()))["time"])
    dev = json.loads(metrics.read_text())["dev"]["accuracy"]
    lines.append(f"| {run.name[11:]} | {len(times)} | {times[len(times) // 2]:.3f} | {first:.3f} | {dev:.4f} |")
out.write_text("\n".join(lines) + "\n")
print(out.read_text())
PYEOF
