"""The fixed inputs on which the bundled presets' outputs are pinned
(keras-hub's `expected_partial_output`): `tests/zoo/pinned_outputs.json`,
written once per published preset by `python -m keras_ssm zoo publish pins`;
the inputs and the pinning live in `keras_ssm.zoo.publish_pins`, the
tolerances the tests hold every backend to here.

Two inputs per preset: short synthetic clips or sequences (`pinned_inputs`,
which also exercise padding and the zero-shot rate) and the first example of
the preset's bundled test subset at full length, exactly as its data loader
delivers it (`bundled_example`)."""

import numpy as np

from keras_ssm.zoo.publish_pins import (  # noqa: F401  (the tests' names for them)
    PINNED,
    bundled_data,
    bundled_example,
    digest,
    model_inputs,
    pinned_inputs,
    read_pinned,
)

# Presets whose float32 outputs measurably spread (`python -m benchmarks float32_spread NAME`: against float64, the
# layers' scan included, on the pinned inputs): lra_listops_s5 (stage 3; logits up to 55, 1,200 tokens both ways
# through slowly decaying states, block outputs up to ~290) is 1.3e-4 off on JAX (the pinning backend), 7.2e-4 on
# TF, 1.9e-3 on torch (3.5e-5 of the largest logit) and 3.9e-3 in its ONNX export (7.1e-5); on the export test's
# random tokens the export is 2.8e-4 (relative) from the TF Keras model; on its bundled example (2,048 tokens, largest
# logit 4.9) TF is 6.6e-4 from the JAX pin, torch 6.9e-5. Each entry: (pinned-logit tolerance as a fraction of the
# largest logit on the preset's pinned inputs, export relative tolerance); every other preset is held to (1e-5, 1e-4).
FLOAT32_SPREAD = {"lra_listops_s5": (5e-5, 5e-4)}


def float32_tolerances(name):
    """`(pinned-logit tolerance / largest logit, export relative tolerance)` of a preset."""
    return FLOAT32_SPREAD.get(name, (1e-5, 1e-4))


def pinned_tolerance(name, entry):
    """`assert_allclose` keywords holding a backend to a preset's pinned logits
    (`entry`: the preset's `read_pinned()` entry).

    float32 round-off grows with the scale of the values inside the model
    (TF's oneDNN kernels sum in another order), which the largest logit the
    preset gives on any of its pinned inputs stands for: the preset's fraction
    of it (`float32_tolerances`), at least 1e-4, and 1e-4 relative. One scale
    per preset, not per input: an input with small logits (lra_listops_s5's
    bundled example, largest logit 4.9 against 54.7 on the synthetic one)
    still runs through the same large internal states.
    """
    pinned = [entry["logits"]] + ([entry["bundled_example"]["logits"]] if "bundled_example" in entry else [])
    scale = max(float(np.abs(logits).max()) for logits in pinned)
    return {"atol": max(1e-4, float32_tolerances(name)[0] * scale), "rtol": 1e-4}
