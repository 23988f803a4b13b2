#!/usr/bin/env bash
# The prepared device run (issue 23): every hot path in one go, within about 8 minutes on
# one GPU. Run benchmarks/device/prepare.sh first on a machine with the registries, carry
# .whl/ with the working tree, then on the GPU machine, from the repository root:
#
#     benchmarks/device/run.sh [OUT_DIR [bench_device options]]   # OUT_DIR: benchmarks/results
#
# It installs the carried steeltwin wheel (and flax/optax where the image's are not the
# tested 0.12 / 0.2 series) into a private folder, prints the device, and runs
# benchmarks.bench_device, which writes OUT_DIR/hotpaths_cuda.json after every section.
# DEADLINE_S (default 420) is when the run stops starting new work; CALL_CAP_S (20) the
# longest single timed call it attempts.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-benchmarks/results}"
shift || true
site="${STEELTWIN_SITE:-/tmp/steeltwin-site}"
pip_install() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$@"
}
pip_install .whl/steeltwin-*.whl
if ! python3 -c 'import sys, flax, optax
sys.exit(not (flax.__version__.startswith("0.12.") and optax.__version__.startswith("0.2.")))'
then
  echo "image flax/optax are not the tested series: installing the carried wheels"
  pip_install .whl/flax-*.whl .whl/optax-*.whl
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${STEELTWIN_COMMIT:-}" ] && [ -f .whl/COMMIT ]; then
  STEELTWIN_COMMIT="$(cat .whl/COMMIT)"
  export STEELTWIN_COMMIT
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
python3 -c 'import jax, flax, optax; print("jax", jax.__version__, jax.devices(),
"flax", flax.__version__, "optax", optax.__version__)'
python3 -m benchmarks.bench_device --out "$out" --deadline-s "${DEADLINE_S:-420}" \
  --call-cap-s "${CALL_CAP_S:-20}" "$@"
