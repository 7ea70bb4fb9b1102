#!/bin/bash
# The fold-7 sweep of three regularised S5 keyword spotters (issue #31), one after another.
# From the repository root: bash campaigns/sc12_s5/run.sh a b c   (logs go to ../sc12_s5_<arm>.log)
for arm in "$@"; do
    KERAS_BACKEND=jax .venv/bin/python -m keras_ssm train "campaigns/sc12_s5/sc12_s5_${arm}.json" \
        --out "runs/sc12_s5_${arm}" > "../sc12_s5_${arm}.log" 2>&1
done
