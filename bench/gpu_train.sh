#!/usr/bin/env bash
# Training throughput of the full network at 256 px on one GPU, float32 then bfloat16.
#
#   bench/gpu_train.sh PHOTO_FOLDER [STEPS] [BATCH]
#
# Needs no internet. Backend: $KERAS_BACKEND (tensorflow or jax); when unset, tensorflow if it
# imports, else jax (the JAX path imports no TensorFlow). Each precision runs in a fresh process
# so peak-memory figures do not mix. Prints images/s, model TFLOP/s (83.5 GFLOP forward per
# 256 px image, ~250 GFLOP per training image) and peak GPU memory; appends JSON lines to
# bench/results/gpu_train.jsonl.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 PHOTO_FOLDER [STEPS=50] [BATCH=32]" >&2
  exit 2
fi
data_dir=$1
steps=${2:-50}
batch=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}
if [[ -z "${KERAS_BACKEND:-}" ]]; then
  if "$python" -c "import tensorflow" 2>/dev/null; then export KERAS_BACKEND=tensorflow; else export KERAS_BACKEND=jax; fi
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "backend: $KERAS_BACKEND"
mkdir -p "$here/results"
for precision in float32 bfloat16; do
  "$python" "$here/gpu_train.py" --data_dir="$data_dir" --precision="$precision" --steps="$steps" \
    --batch_size="$batch" --output="$here/results/gpu_train.jsonl" "${@:4}"
done
