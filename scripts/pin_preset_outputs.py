"""Pins every bundled preset's logits on the fixed inputs of tests/zoo/pinned.py.

    .venv/bin/python scripts/pin_preset_outputs.py [--bundled-example-only] [NAME ...]

Run once when a preset is published (or deliberately replaced), on JAX (the
backend the presets' figures are measured on); the tests then hold every
backend, and every later change to a layer, to these values. Two inputs per
preset: the short synthetic ones of `pinned_inputs` (both rates for audio)
and the first example of its bundled test subset at full length
(`bundled_example`), recorded with the sha256 of its inputs and its label.
`--bundled-example-only` (re)pins that example alone and keeps a preset's
other pinned logits as they are: re-pinning those would absorb whatever
round-off later changes to the layers brought since the preset was published.
"""

import argparse
import json
import sys

import keras
import numpy as np

sys.path.insert(0, ".")
from keras_ssm import zoo  # noqa: E402
from tests.zoo.pinned import PINNED, bundled_data, bundled_example, digest, model_inputs, read_pinned  # noqa: E402


def main(names, bundled_example_only=False):
    pinned = read_pinned()
    for name in names or zoo.list_presets():
        metadata = zoo.describe(name)
        model = zoo.load(name)
        entry = {"backend": keras.backend.backend(), "sha256": metadata["files"]["model.weights.h5"]}
        if bundled_example_only:
            entry = pinned.get(name)
            if entry is None or entry["sha256"] != metadata["files"]["model.weights.h5"]:
                raise SystemExit(f"{name}: its pinned logits are missing or of other weights; pin it whole.")
            if entry["backend"] != keras.backend.backend():
                raise SystemExit(f"{name} was pinned on {entry['backend']}: run with KERAS_BACKEND={entry['backend']}.")
        else:
            inputs = model_inputs(metadata)
            entry["logits"] = keras.ops.convert_to_numpy(model(inputs)).tolist()
            if metadata["input"].get("sample_rate"):
                slower = zoo.load(name, sample_rate=metadata["input"]["sample_rate"] // 2)
                entry["logits_half_rate"] = keras.ops.convert_to_numpy(slower(inputs)).tolist()
        example, label = bundled_example(metadata)
        shapes = [list(x.shape) for x in (example if isinstance(example, tuple) else (example,))]
        entry["bundled_example"] = {
            "data": bundled_data(metadata), "index": 0, "label": label, "shapes": shapes,
            "inputs_sha256": digest(example), "logits": keras.ops.convert_to_numpy(model(example)).tolist(),
        }
        pinned[name] = entry
        print(name, np.round(entry["logits"], 3).tolist())
        print(f"  bundled example 0 (label {label}, {shapes}):",
              np.round(entry["bundled_example"]["logits"], 3).tolist())
    with open(PINNED, "w", encoding="utf-8") as f:
        json.dump(pinned, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="presets (default: every bundled preset)")
    parser.add_argument("--bundled-example-only", action="store_true",
                        help="pin the bundled example alone, keeping the other pinned logits")
    args = parser.parse_args()
    main(args.names, args.bundled_example_only)
