#!/usr/bin/env bash
# Creates .venv with keras_ssm and all three backends, at the versions pinned in
# constraints.txt (pyproject.toml gives the ranges).
# Re-running is cheap: it reinstalls only when pyproject.toml, constraints.txt or setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.keras_ssm-installed
want=$(sha256sum pyproject.toml constraints.txt setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Setting up .venv (keras, jax, tensorflow-cpu, torch==2.13.0 CPU; a few minutes the first time)..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -c constraints.txt
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[all,test,plot,export]"
echo "$want" > "$stamp"
