#!/usr/bin/env bash
# The main job: evaluates the bundled pretrained presets on the bundled FSDD test split (300 clips)
# at 8 kHz and zero-shot at 4 kHz, beside each preset's metadata figure, then streams one clip
# through a preset chunk by chunk. KERAS_BACKEND picks the backend (default jax).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=${KERAS_BACKEND:-jax}
python=.venv/bin/python
$python -m keras_ssm zoo list
echo
echo "Evaluating every bundled preset on examples/data/fsdd_test (the FSDD test split, CC BY-SA 4.0)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/fsdd_test --rate 8000 --rate 4000 --verbose 0
echo
$python -m keras_ssm zoo stream fsdd_s5 --wav examples/data/fsdd_test/stream/7_jackson_0.wav --chunk-ms 100
