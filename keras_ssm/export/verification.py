"""Holding an export to its Keras model: the same inputs through both."""

import numpy as np
from keras import ops

from keras_ssm.export.runtime import ExportedModel


def relative_error(actual, expected):
    """`max |actual − expected| / max |expected|`."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


def sample_inputs(description, batch_size=2, seed=0, chunks=1, vocab_size=None):
    """Random inputs for an export's description: audio-like uniform [-1, 1)
    features, token ids in `[1, vocab_size)`, a padding mask that cuts the
    second example short. Streaming: `chunks` chunks, concatenated."""
    rng = np.random.default_rng(seed)
    first = description["inputs"][0]
    shape = [batch_size if d is None else d for d in first["shape"]]
    shape[0] = batch_size
    shape[1] *= chunks
    if first["dtype"] == "int32":
        x = rng.integers(1, vocab_size or 2, shape).astype(np.int32)
    else:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
    feeds = {first["name"]: x}
    if any(i["name"] == "padding_mask" for i in description["inputs"]):
        valid = np.full(batch_size, shape[1])
        valid[1:] = max(1, (2 * shape[1]) // 3)
        feeds["padding_mask"] = np.arange(shape[1])[None] < valid[:, None]
    return feeds


def _keras_outputs(model, feeds):
    x = feeds.get("inputs", feeds.get("tokens"))
    if "padding_mask" in feeds:
        x = [x, feeds["padding_mask"]]
    return ops.convert_to_numpy(model(x, training=False))


def verify(model, path, description, seed=0, chunks=4, vocab_size=None):
    """Runs the export at `path` in its runtime and the Keras `model` on the
    same inputs; returns the largest relative error.

    Sequence form: the outputs on a batch of 2 (the second padded, when the
    export takes a mask). Streaming form: a stream of `chunks` chunks fed
    one by one from the zero state, against the Keras full pass over each
    prefix (the logits after every chunk), then a last chunk that holds
    fewer samples than the chunk (`valid`, zero-padded; not a multiple of
    the model's stride) against the full pass over the whole stream.

    Example:
    >>> import os, tempfile, keras_ssm.export
    >>> backbone = keras_ssm.SSMBackbone("s4d", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4})
    >>> model = keras_ssm.SSMClassifier(backbone, num_classes=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.onnx")
    >>> description = keras_ssm.export.export_model(model, path, length=64)  # doctest: +SKIP
    >>> verify(model, path, description) < 1e-4                               # doctest: +SKIP
    True
    """
    exported = ExportedModel(path, description=description)
    if description["form"] == "sequence":
        batch = 2 if description["inputs"][0]["shape"][0] is None else description["inputs"][0]["shape"][0]
        feeds = sample_inputs(description, batch, seed, vocab_size=vocab_size)
        outputs = exported(**feeds)
        return relative_error(outputs[description["outputs"][0]], _keras_outputs(model, feeds))
    batch = description["inputs"][0]["shape"][0]
    stream = sample_inputs(description, batch, seed, chunks=chunks + 1, vocab_size=vocab_size)
    name, size = description["inputs"][0]["name"], description["chunk_size"]
    state = {s["name"]: np.zeros(s["shape"], np.float32) for s in description["state"]}
    worst = 0.0
    for i in range(chunks + 1):
        # The last chunk ends the stream part way: 2/3 of it, short of a whole stride.
        valid = size if i < chunks else max(1, (2 * size) // 3 - 1)
        x = stream[name][:, i * size : (i + 1) * size].copy()
        x[:, valid:] = 0
        outputs = exported(**{name: x, "valid": np.full(batch, valid, np.int32)}, **state)
        state = {s: outputs[f"next_{s}"] for s in state}
        expected = _keras_outputs(model, {name: stream[name][:, : i * size + valid]})
        worst = max(worst, relative_error(outputs["logits"], expected))
    return worst
