"""`export_model`: a keras_ssm model to ONNX, LiteRT or SavedModel."""

import json
import os
import warnings

import keras

from keras_ssm.export import formats, keras_routes
from keras_ssm.export.sequence_chunks import SEQUENCE_CHUNK
from keras_ssm.export.signatures import dropped_mask_warning, sequence_signature, streaming_signature
from keras_ssm.validation import check_positive_int


def export_model(model, path, format="onnx", streaming=False, length=None, chunk_size=None,
                 batch_size=None, mask=None, quantize=None, sequence_chunk=SEQUENCE_CHUNK):
    """Exports `model` in real arithmetic (no complex dtype, no FFT).

    The sequence form maps `(batch, length, features)` (or token ids) and an
    optional `padding_mask` to the model's outputs at a fixed `length`; the
    streaming form (causal `SSMClassifier`s) maps one chunk and the state to
    the logits so far and the next state (see `keras_ssm.export.signatures`).
    Beside the artifact, `PATH.json` describes its inputs, outputs and state.

    On TensorFlow every form and format is written from a `tf.function`
    (tf2onnx, the LiteRT converter, SavedModel). On JAX (ONNX, SavedModel)
    and torch (ONNX, LiteRT) the sequence form goes through Keras's own
    `model.export`; anything else there is refused with the TensorFlow route
    (`python -m keras_ssm export`, which runs on TensorFlow whatever the
    backend).

    Args:
        model: a Keras model holding keras_ssm layers, e.g. `zoo.load(name)`.
        path: the `.onnx` / `.tflite` file, or the SavedModel folder.
        format: `"onnx"`, `"litert"` or `"saved_model"`.
        streaming: export the streaming form instead of the sequence form.
        length: the sequence form's input length (required).
        chunk_size: the streaming form's chunk (a multiple of the stride).
        batch_size: the sequence form's batch (None: any; litert-torch fixes
            it at 1, and `ExportedModel` then runs a batch one example at a
            time); the streaming form's (default 1).
        mask: sequence form: include `padding_mask` (default: when the model
            takes one; not with DSS-softmax, which then takes inputs of exactly
            `length` samples: a warning says so, in `PATH.json`'s
            `"warnings"` too).
        quantize: `"dynamic_int8"` for int8 LiteRT weights.
        sequence_chunk: sequence form: steps per chunk. A causal SSM layer
            whose input is long enough for chunks to pay
            (`sequence_chunks.min_chunked_length`) runs chunk by chunk, the
            state carried, in time linear in the length (the streaming
            form's math; `keras_ssm.export.sequence_chunks`); a shorter one,
            and bidirectional and DSS-softmax layers, convolve with a kernel
            as long as their input. None: whole-length convolutions
            everywhere.

    Returns:
        The description written to `PATH.json` (a dict).

    Example:
    >>> import os, tempfile, keras_ssm                             # doctest: +SKIP
    >>> model = keras_ssm.zoo.load("fsdd_s5")                      # doctest: +SKIP
    >>> info = export_model(model, "fsdd_s5.onnx", length=4000)    # doctest: +SKIP
    >>> [i["name"] for i in info["inputs"]]                        # doctest: +SKIP
    ['inputs', 'padding_mask']
    """
    backend = keras.backend.backend()
    formats.check_format(format, quantize)
    check_positive_int("sequence_chunk", sequence_chunk, allow_none=True)
    if backend != "tensorflow":
        keras_routes.check_route(backend, format, streaming)
    if streaming:
        if length is not None:
            raise ValueError("`length` is for the sequence form; the streaming form takes `chunk_size`.")
        if chunk_size is None:
            raise ValueError("The streaming form needs `chunk_size` (samples per call).")
        signature = streaming_signature(model, chunk_size, batch_size or 1)
        path = formats.write(signature, path, format, quantize=quantize)
        description = signature.describe()
    else:
        if chunk_size is not None:
            raise ValueError("`chunk_size` is for the streaming form (`streaming=True`); the sequence "
                             "form's chunks are `sequence_chunk`.")
        if length is None:
            raise ValueError(
                "The sequence form needs a fixed `length` (its kernels are computed for it), "
                + ("e.g. the length of the inputs the deployment feeds (this model's DSS-softmax layers "
                   "take no padding mask in an export: every input must be exactly `length` long)."
                   if dropped_mask_warning(model, mask) else
                   "e.g. the longest input the deployment feeds, zero-padded with `padding_mask`.")
            )
        if backend == "tensorflow":
            signature = sequence_signature(model, length, mask=mask, batch_size=batch_size,
                                           sequence_chunk=sequence_chunk)
            path = formats.write(signature, path, format, quantize=quantize)
            description = signature.describe()
        else:
            if quantize is not None:
                raise ValueError(f"`quantize` runs through TensorFlow's LiteRT converter, not on {backend}.")
            inputs, output, runtime_inputs, runtime_outputs = keras_routes.export_sequence(
                model, path, format, length, mask, batch_size, sequence_chunk
            )
            description = {"form": "sequence", "length": length, "sequence_chunk": sequence_chunk,
                           "outputs": [output], "state": [],
                           "inputs": [{"name": n, "shape": list(sh), "dtype": d} for n, sh, d in inputs],
                           "runtime_inputs": runtime_inputs, "runtime_outputs": runtime_outputs}
    notes = [] if streaming else [w for w in [dropped_mask_warning(model, mask)] if w]
    for note in notes:
        warnings.warn(note, stacklevel=2)
    description = {"format": format, **description, "quantize": quantize, "backend": backend,
                   "model": type(model).__name__, "warnings": notes}
    with open(path + ".json.tmp", "w") as f:
        json.dump(description, f, indent=2)
    os.replace(path + ".json.tmp", path + ".json")
    return description
