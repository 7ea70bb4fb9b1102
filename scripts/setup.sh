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
# --no-compile: Python byte-compiles on first import only the modules used, not all of
# TensorFlow, torch and JAX (a third of the install's time).
pip=(.venv/bin/python -m pip install --quiet --no-compile)
"${pip[@]}" --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0" -c constraints.txt
# setuptools warns on every editable install that a folder named like the package may shadow it;
# here that folder is the package itself.
PYTHONWARNINGS="ignore:Editable installation" "${pip[@]}" -c constraints.txt -e ".[all,test,plot,export]"
echo "$want" > "$stamp"
