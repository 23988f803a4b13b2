#!/usr/bin/env bash
# Build, on a machine with the registries, what the GPU machine lacks (issue 23): a wheel of
# steeltwin from this working tree, and flax/optax wheels of the tested series in case the
# GPU image carries others. Everything lands in .whl/ (ignored by git), ready to be carried
# with the run. Usage, from the repository root: benchmarks/device/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-python3}"
rm -rf .whl && mkdir -p .whl
"$py" -m pip wheel -q --no-deps --no-build-isolation . -w .whl
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_17_x86_64 -d .whl \
  "flax==$("$py" -c 'import flax; print(flax.__version__)')" \
  "optax==$("$py" -c 'import optax; print(optax.__version__)')"
git rev-parse HEAD > .whl/COMMIT
git status --porcelain -- engine models training benchmarks conf | grep -q . \
  && sed -i 's/$/+dirty/' .whl/COMMIT || true
ls -la .whl
