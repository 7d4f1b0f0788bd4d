#!/usr/bin/env bash
# Prepare, on the development machine, what bench/gpu.sh needs on a lent GPU machine, which reaches
# no network and has no ../shared beside the checkout: cp312 wheels of the packages its image lacks
# (pydantic, optuna, kornia and their needs) in .whl/, and MNIST's files in .gpu-data/mnist/; both
# folders are git-ignored and travel with `carry`. The versions are this machine's, so both sides
# run what the tests ran here.
#
#   bash bench/gpu_prepare.sh        # then: device run "bash bench/gpu.sh", carry [".whl", ".gpu-data"]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
data=${KNOBWISE_DATA_DIR:-../shared/data}
mkdir -p .whl .gpu-data/mnist
cp "$data"/mnist/*-ubyte.gz .gpu-data/mnist/
packages=(pydantic pydantic-core annotated-types typing-inspection typing-extensions optuna alembic
  sqlalchemy colorlog mako cmaes kornia kornia-rs)
specs=()
for name in "${packages[@]}"; do
  version=$("$py" -m pip show "$name" | awk '/^Version:/ {print $2}')
  [ -n "$version" ] || { echo "gpu_prepare: $name is not installed here (pip install -e '.[dev]')" >&2; exit 2; }
  specs+=("$name==$version")
done
rm -f .whl/*.whl
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl "${specs[@]}"
du -sh .whl .gpu-data
