"""The fixed inputs on which the bundled presets' outputs are pinned
(keras-hub's `expected_partial_output`): `tests/zoo/pinned_outputs.json`,
written once per published preset by `scripts/pin_preset_outputs.py`.

Two inputs per preset: short synthetic clips or sequences (`pinned_inputs`,
which also exercise padding and the zero-shot rate) and the first example of
the preset's bundled test subset at full length, exactly as its data loader
delivers it (`bundled_example`)."""

import hashlib
import json
import os
import shlex

import numpy as np

PINNED = os.path.join(os.path.dirname(__file__), "pinned_outputs.json")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Presets whose float32 outputs measurably spread (`scripts/measure_float32_spread.py NAME`: against float64, the
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


def bundled_data(metadata):
    """The preset's bundled test subset, relative to the repository root:
    its metadata's first `metrics.subsets` entry, else the `--data` of its
    `evaluate` command when that lies in `examples/data/` (FSDD's whole test
    split is bundled)."""
    subsets = metadata["metrics"].get("subsets") or []
    if subsets:
        return subsets[0]["data"]
    words = shlex.split(metadata["evaluate"])
    folder = words[words.index("--data") + 1] if "--data" in words else ""
    if not folder.startswith("examples/data/"):
        raise ValueError(f"{metadata['name']!r} names no bundled test data (metrics.subsets or "
                         f"`--data examples/data/...` in its evaluate command).")
    return folder


def bundled_example(metadata):
    """`(inputs, label)`: the first example of the preset's bundled test
    subset, loaded as `zoo evaluate` loads it (the `keras_ssm.data` loader
    its metadata names, with its options, at its own rate) in a batch of one:
    at full length, padded to its length bucket, with its mask where the
    loader gives one. `inputs` is what the preset's model is called on
    (numpy: token ids, features, or `(audio, mask)`)."""
    from keras_ssm import data as data_lib

    options = dict(metadata["data"].get("options", {}))
    if metadata["input"].get("sample_rate"):
        options["sample_rate"] = metadata["input"]["sample_rate"]
    data = data_lib.load(metadata["data"]["task"], os.path.join(ROOT, bundled_data(metadata)),
                         batch_size=1, **options)
    inputs, label = next(iter(data.test))  # the test split is never shuffled
    if isinstance(inputs, (tuple, list)):
        inputs = tuple(np.asarray(x) for x in inputs)
    else:
        inputs = np.asarray(inputs)
    return inputs, int(np.asarray(label)[0])


def digest(inputs):
    """sha256 of arrays' dtypes, shapes and bytes: tells a changed example
    (data or loader) apart from a changed model."""
    sha = hashlib.sha256()
    for x in inputs if isinstance(inputs, tuple) else (inputs,):
        x = np.ascontiguousarray(x)
        sha.update(f"{x.dtype.str}{x.shape}".encode())
        sha.update(x.tobytes())
    return sha.hexdigest()
