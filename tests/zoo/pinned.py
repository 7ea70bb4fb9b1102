"""The fixed inputs on which the bundled presets' outputs are pinned
(keras-hub's `expected_partial_output`): `tests/zoo/pinned_outputs.json`,
written once per published preset by `scripts/pin_preset_outputs.py`."""

import json
import os

import numpy as np

PINNED = os.path.join(os.path.dirname(__file__), "pinned_outputs.json")

# Presets whose float32 outputs measurably spread (`scripts/measure_float32_spread.py NAME`: against float64, the
# layers' scan included, on the pinned inputs): lra_listops_s5 (stage 3; logits up to 55, 1,200 tokens both ways
# through slowly decaying states, block outputs up to ~290) is 1.3e-4 off on JAX (the pinning backend), 7.2e-4 on
# TF, 1.9e-3 on torch (3.5e-5 of the largest logit) and 3.9e-3 in its ONNX export (7.1e-5); on the export test's
# random tokens the export is 2.8e-4 (relative) from the TF Keras model. Each entry: (pinned-logit tolerance as a
# fraction of the largest logit, export relative tolerance); every other preset is held to (1e-5, 1e-4).
FLOAT32_SPREAD = {"lra_listops_s5": (5e-5, 5e-4)}


def float32_tolerances(name):
    """`(pinned-logit tolerance / largest logit, export relative tolerance)` of a preset."""
    return FLOAT32_SPREAD.get(name, (1e-5, 1e-4))


def pinned_inputs(metadata):
    """Two examples at the preset's input, the second padded after 700 steps,
    and their mask: audio clips at the preset's rate, token ids (0 =
    padding) drawn from its vocabulary, or standard-normal features (pixels
    normalised as the preset's input says) on its channels."""
    rng = np.random.default_rng(0)
    mask = np.arange(1200)[None] < np.array([[1200], [700]])
    if "vocab_size" in metadata["input"]:
        tokens = rng.integers(1, metadata["input"]["vocab_size"], (2, 1200))
        return (tokens * mask).astype("int32"), mask
    if "sample_rate" not in metadata["input"]:
        features = rng.standard_normal((2, 1200, metadata["input"]["shape"][-1]))
        return (features * mask[..., None]).astype("float32"), mask
    t = np.arange(1200) / metadata["input"]["sample_rate"]
    audio = 0.3 * np.sin(2 * np.pi * np.array([[440.0], [1200.0]]) * t) + 0.05 * rng.standard_normal((2, 1200))
    return (audio * mask)[..., None].astype("float32"), mask


def model_inputs(metadata):
    """What the preset's model is called on: `(x, mask)`, or the token ids
    (their padding is their mask)."""
    x, mask = pinned_inputs(metadata)
    return x if "vocab_size" in metadata["input"] else (x, mask)


def read_pinned():
    if not os.path.isfile(PINNED):
        return {}
    with open(PINNED, encoding="utf-8") as f:
        return json.load(f)
