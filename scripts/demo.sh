#!/usr/bin/env bash
# The main job: builds each layer, checks it against its recurrence, prints a table.
# KERAS_BACKEND picks the backend (default jax); extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3
KERAS_BACKEND=${KERAS_BACKEND:-jax} exec .venv/bin/python -m keras_ssm demo "$@"
