"""The fixed inputs on which the bundled presets' outputs are pinned
(keras-hub's `expected_partial_output`), and the pinning itself: the logits
in `tests/zoo/pinned_outputs.json`, written once per published preset by
`python -m keras_ssm zoo publish pins [NAME ...]` on JAX (the backend the
presets' figures are measured on); the tests then hold every backend, and
every later change to a layer, to these values.

Two inputs per preset: short synthetic clips or sequences (`pinned_inputs`,
which also exercise padding and the zero-shot rate) and the first example of
the preset's bundled test subset at full length, exactly as its data loader
delivers it (`bundled_example`).

>>> pinned_inputs({"input": {"vocab_size": 18}})[0].shape
(2, 1200)
"""

import hashlib
import json
import os
import shlex

import keras
import numpy as np

from keras_ssm import data as data_lib
from keras_ssm.zoo.loading import describe, load

# The repository's root, where the bundled subsets and the pinned logits lie.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINNED = os.path.join(ROOT, "tests", "zoo", "pinned_outputs.json")


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
    """The pinned logits of every preset pinned so far (`{}` before the first)."""
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


def pin(names, bundled_example_only=False):
    """Pins the logits of presets `names` on the pinned inputs and their
    bundled example, with the sha256 of the weights they belong to.

    `bundled_example_only` (re)pins that example alone and keeps a preset's
    other pinned logits as they are: re-pinning those would absorb whatever
    round-off later changes to the layers brought since the preset was
    published."""
    pinned = read_pinned()
    for name in names:
        metadata = describe(name)
        model = load(name)
        entry = {"backend": keras.backend.backend(), "sha256": metadata["files"]["model.weights.h5"]}
        if bundled_example_only:
            entry = pinned.get(name)
            if entry is None or entry["sha256"] != metadata["files"]["model.weights.h5"]:
                raise SystemExit(f"{name}: its pinned logits are missing or of other weights; pin it whole "
                                 "(without --bundled-example-only).")
            if entry["backend"] != keras.backend.backend():
                raise SystemExit(f"{name} was pinned on {entry['backend']}: run with KERAS_BACKEND={entry['backend']}.")
        else:
            inputs = model_inputs(metadata)
            entry["logits"] = keras.ops.convert_to_numpy(model(inputs)).tolist()
            if metadata["input"].get("sample_rate"):
                slower = load(name, sample_rate=metadata["input"]["sample_rate"] // 2)
                entry["logits_half_rate"] = keras.ops.convert_to_numpy(slower(inputs)).tolist()
        example, label = bundled_example(metadata)
        shapes = [list(x.shape) for x in (example if isinstance(example, tuple) else (example,))]
        entry["bundled_example"] = {
            "data": bundled_data(metadata), "index": 0, "label": label, "shapes": shapes,
            "inputs_sha256": digest(example), "logits": keras.ops.convert_to_numpy(model(example)).tolist(),
        }
        pinned[name] = entry
        print(name, np.round(entry["logits"], 3).tolist())
        print(f"  bundled example 0 (label {label}, {shapes}):", np.round(entry["bundled_example"]["logits"], 3).tolist())
    with open(PINNED, "w", encoding="utf-8") as f:
        json.dump(pinned, f, indent=1)
        f.write("\n")
