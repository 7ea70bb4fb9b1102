"""The fixed inputs on which the bundled presets' outputs are pinned
(keras-hub's `expected_partial_output`): `tests/zoo/pinned_outputs.json`,
written once per published preset by `scripts/pin_preset_outputs.py`."""

import json
import os

import numpy as np

PINNED = os.path.join(os.path.dirname(__file__), "pinned_outputs.json")


def pinned_inputs(metadata):
    """Two audio clips (the second padded: mask False after 700 samples) at
    the preset's rate, and their mask."""
    rng = np.random.default_rng(0)
    t = np.arange(1200) / metadata["input"]["sample_rate"]
    audio = 0.3 * np.sin(2 * np.pi * np.array([[440.0], [1200.0]]) * t) + 0.05 * rng.standard_normal((2, 1200))
    mask = np.arange(1200)[None] < np.array([[1200], [700]])
    return (audio * mask)[..., None].astype("float32"), mask


def read_pinned():
    if not os.path.isfile(PINNED):
        return {}
    with open(PINNED, encoding="utf-8") as f:
        return json.load(f)
