#!/usr/bin/env bash
# The test suite, once per Keras backend (KERAS_BACKEND=jax, tensorflow, torch).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -x tests/layers`.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=3
status=0
summary=()
for backend in ${BACKENDS:-jax tensorflow torch}; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
  code=$?
  # pytest exits 5 when it collected no test: that is a failure here too.
  [ $code -eq 0 ] || status=1
  summary+=("$backend: exit $code")
done
printf '%s\n' "${summary[@]}"
exit $status
