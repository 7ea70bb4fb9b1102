"""The sequence form through Keras's own `model.export` on JAX and torch.

Keras 3 exports ONNX from JAX (jax2onnx) and torch (torch.onnx), LiteRT from
torch (litert-torch) and a SavedModel from JAX (jax2tf). In real arithmetic
their graphs hold no complex dtype or FFT either; the constants are computed
by an eager warm-up call first (their traces cannot read variables).
"""

import keras
import numpy as np

from keras_ssm.export import formats
from keras_ssm.export.real_arithmetic import real_arithmetic
from keras_ssm.export.sequence_chunks import SEQUENCE_CHUNK, chunked_sequence
from keras_ssm.export.signatures import sequence_inputs

ROUTES = {"jax": ("onnx", "saved_model"), "torch": ("onnx", "litert"), "tensorflow": formats.FORMATS}
KERAS_FORMATS = {"onnx": "onnx", "litert": "litert", "saved_model": "tf_saved_model"}
# Routes whose artifact has a fixed batch (litert-torch traces static shapes).
FIXED_BATCH = {("torch", "litert")}


def check_route(backend, format, streaming):
    if streaming or format not in ROUTES[backend]:
        what = "the streaming form" if streaming else repr(format)
        offered = ", ".join(ROUTES[backend])
        raise RuntimeError(
            f"Export of {what} is not offered from the {backend} backend (offered there: the sequence "
            f"form as {offered}). Every form and format exports through TensorFlow, and a saved model "
            "is backend-neutral: run `python -m keras_ssm export NAME_OR_PATH --format "
            f"{format} --out PATH{' --streaming' if streaming else ''}` (it uses TensorFlow whatever the "
            "backend) or set KERAS_BACKEND=tensorflow."
        )


def export_sequence(model, path, format, length, mask=None, batch_size=None, sequence_chunk=SEQUENCE_CHUNK):
    """Writes the sequence form with `model.export`; returns its inputs
    `[(name, shape, dtype)]` and output name, and the names the artifact
    gives them (`runtime_inputs`, `runtime_outputs`, in the same order).

    The batch is free (`batch_size=None`) where the route allows it
    (jax2onnx, torch.onnx, jax2tf); litert-torch fixes it, at 1 unless
    `batch_size` says otherwise. `sequence_chunk` as in
    `signatures.sequence_signature`."""
    if batch_size is None and (keras.backend.backend(), format) in FIXED_BATCH:
        batch_size = 1
    inputs, output = sequence_inputs(model, length, mask, batch_size)
    specs = [keras.InputSpec(shape=shape, dtype=dtype, name=name) for name, shape, dtype in inputs]
    sample = [np.ones((batch_size or 1, *shape[1:]), dtype) if dtype == "bool"
              else np.zeros((batch_size or 1, *shape[1:]), dtype) for _, shape, dtype in inputs]
    names = {}

    def writer(target):
        with real_arithmetic(model), chunked_sequence(model, sequence_chunk):
            model(sample if len(sample) > 1 else sample[0], training=False)  # computes the constants
            model.export(target, format=KERAS_FORMATS[format], verbose=False,
                         input_signature=[specs if len(specs) > 1 else specs[0]])

    def check(target):
        from keras_ssm.export.runtime import ExportedModel

        exported = ExportedModel(target, description=False)  # opens in its runtime before it is moved in
        names["inputs"], names["outputs"] = exported.runtime_input_names, exported.runtime_output_names
        if sorted(names["inputs"]) == sorted(name for name, _, _ in inputs):  # the route kept the names
            names["inputs"] = [name for name, _, _ in inputs]

    formats.write_atomically(path, format, writer, check=check)
    return inputs, output, names["inputs"], names["outputs"]
