"""Pins every bundled preset's logits on the fixed inputs of tests/zoo/pinned.py.

    .venv/bin/python scripts/pin_preset_outputs.py [NAME ...]

Run once when a preset is published (or deliberately replaced); the tests
then hold every backend, and every later change to a layer, to these values.
"""

import json
import sys

import keras
import numpy as np

sys.path.insert(0, ".")
from keras_ssm import zoo  # noqa: E402
from tests.zoo.pinned import PINNED, model_inputs, read_pinned  # noqa: E402


def main(names):
    pinned = read_pinned()
    for name in names or zoo.list_presets():
        metadata = zoo.describe(name)
        inputs = model_inputs(metadata)
        entry = {"backend": keras.backend.backend(), "sha256": metadata["files"]["model.weights.h5"]}
        entry["logits"] = keras.ops.convert_to_numpy(zoo.load(name)(inputs)).tolist()
        if metadata["input"].get("sample_rate"):
            slower = zoo.load(name, sample_rate=metadata["input"]["sample_rate"] // 2)
            entry["logits_half_rate"] = keras.ops.convert_to_numpy(slower(inputs)).tolist()
        pinned[name] = entry
        print(name, np.round(entry["logits"], 3).tolist())
    with open(PINNED, "w", encoding="utf-8") as f:
        json.dump(pinned, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
