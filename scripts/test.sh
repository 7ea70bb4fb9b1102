#!/usr/bin/env bash
# The test suite, once per Keras backend (KERAS_BACKEND=jax, tensorflow, torch).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -x tests/layers`.
# Each pass runs on every core (pytest-xdist, at most 4 workers; a module's tests stay on
# one worker, so its module fixtures are built once): TEST_WORKERS=0 runs in one process.
# Each pass lists its 15 slowest tests, so a CI log says where the time goes.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=3
status=0
summary=()
for backend in ${BACKENDS:-jax tensorflow torch}; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider \
    -n "${TEST_WORKERS:-auto}" --maxprocesses 4 --dist loadscope --durations=15 "$@"
  code=$?
  # pytest exits 5 when it collected no test: that is a failure here too.
  [ $code -eq 0 ] || status=1
  summary+=("$backend: exit $code")
done
printf '%s\n' "${summary[@]}"
exit $status
