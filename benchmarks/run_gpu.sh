#!/usr/bin/env bash
# The benchmarks for a GPU machine in one run: the training steps (train_step.py), the inference
# forwards of HRNet and of aggregation (model.py) and the deformable convolution (deform_conv.py),
# in bfloat16 then float32, "of peak" against the card's dense peak for that dtype (model FLOP
# utilisation).
# When nvidia-smi is present and jax sees no GPU, installs jax[cuda12] first. On a machine
# without network access whose Python lacks a pure-Python package the benchmarks import
# (ml_collections, say), download its wheels into .whl/ beforehand (git-ignored) and bring
# that folder along; they are installed into /tmp/site:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl ml-collections==1.1.0
# Output goes to stdout and, when $OUT is set, also to $OUT/run_gpu.log.
#
#   bash benchmarks/run_gpu.sh
# Environment: PY (default .venv/bin/python, else python3), TIMEOUT per command in seconds
# (default 240), PEAK_FP32 / PEAK_BF16 in GFLOP/s per device (default: from the card's name),
# SMALL=1 to run every command at the scripts' tiny sizes (a check of the script itself, a few
# minutes on a CPU, before spending accelerator time on it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PY:-}" ]]; then
  PY=$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)
fi
TIMEOUT=${TIMEOUT:-240}
SMALL=${SMALL:-0}
export PYTHONUNBUFFERED=1

run() {  # One command under the timeout; a failure is reported and the next command runs.
  echo "== $*"
  timeout "$TIMEOUT" "$@" || echo "!! exit $?: $*"
}

main() {
  local card=cpu
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
    if ! "$PY" -c "import jax; jax.devices('gpu')" 2>/dev/null; then
      "$PY" -m pip install --quiet "jax[cuda12]==0.10.2"
      "$PY" -c "import jax; jax.devices('gpu')"
    fi
  fi
  # Dense peaks in GFLOP/s: H100/H200 SXM bfloat16 on tensor cores, float32 without them.
  case "$card" in
    *H100* | *H200*) PEAK_FP32=${PEAK_FP32:-67e3} PEAK_BF16=${PEAK_BF16:-989e3} ;;
    cpu) PEAK_FP32=${PEAK_FP32:-157} PEAK_BF16=${PEAK_BF16:-157} ;;  # The reference CPU, fp32.
    *) echo "unknown card '$card': set PEAK_FP32 and PEAK_BF16 (GFLOP/s) for 'of peak'"
       PEAK_FP32=${PEAK_FP32:-nan} PEAK_BF16=${PEAK_BF16:-nan} ;;
  esac
  if [[ -d .whl ]] && ! "$PY" -c "import ml_collections" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
  local dtype peak small=() small_deform=()
  if [[ $SMALL == 1 ]]; then
    small=(--small --repeats 1)
    small_deform=(--batch 1 --repeats 2)
  fi
  for dtype in bfloat16 float32; do
    peak=$([[ $dtype == float32 ]] && echo "$PEAK_FP32" || echo "$PEAK_BF16")
    run "$PY" benchmarks/train_step.py --dtype "$dtype" --peak_gflops "$peak" "${small[@]}"
    run "$PY" benchmarks/model.py --dtype "$dtype" --peak_gflops "$peak" "${small[@]}"
    # torchvision's deform_conv2d, where installed, is compared in float32 only.
    run "$PY" benchmarks/deform_conv.py --dtype "$dtype" --peak-gflops "$peak" \
      "${small_deform[@]}" $([[ $dtype == bfloat16 ]] && echo --no-torchvision)
  done
}

if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  main 2>&1 | tee "$OUT/run_gpu.log"
else
  main
fi
