"""Writing a traced `Signature` as SavedModel, ONNX or LiteRT (TensorFlow routes).

Each writer produces its artifact beside the destination and renames it into
place, so a failed conversion leaves nothing half-written.
"""

import os
import shutil
import tempfile

FORMATS = ("onnx", "litert", "saved_model")
EXTENSIONS = {"onnx": ".onnx", "litert": ".tflite", "saved_model": ""}
ONNX_OPSET = 17


def _module(signature):
    import tensorflow as tf

    module = tf.Module()
    module.serve = signature.function
    module.model_variables = signature.variables
    return module, signature.function.get_concrete_function()


def _write_saved_model(signature, path):
    import tensorflow as tf

    module, concrete = _module(signature)
    tf.saved_model.save(module, path, signatures={"serving_default": concrete})


def _write_onnx(signature, path):
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs tf2onnx and onnx: pip install 'keras-ssm[export]'."
        ) from error
    tf2onnx.convert.from_function(
        signature.function, input_signature=signature.input_signature, opset=ONNX_OPSET, output_path=path
    )


def _write_litert(signature, path, quantize=None):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "saved_model")
        _write_saved_model(signature, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        # The converter's Mul-into-FullyConnected fusion builds mis-shaped
        # products on a (1, C, 1) encoder input followed by a BatchNorm.
        converter._experimental_disable_fuse_mul_and_fc = True
        if quantize == "dynamic_int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize is not None:
            raise ValueError(f"`quantize` must be None or 'dynamic_int8', got {quantize!r}.")
        flatbuffer = converter.convert()
    with open(path, "wb") as f:
        f.write(flatbuffer)


def check_format(format, quantize=None):
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {list(FORMATS)}, got {format!r}.")
    if quantize is not None and format != "litert":
        raise ValueError(f"`quantize` applies to the LiteRT format only, not {format!r}.")


def write_atomically(path, format, writer):
    """Runs `writer(target)` on a staging path beside `path`, then renames
    the artifact into place: a failure leaves nothing behind."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        target = os.path.join(staging, "artifact" + EXTENSIONS[format])
        writer(target)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def write(signature, path, format, quantize=None):
    """Writes `signature` to `path` in `format` (`"onnx"`, `"litert"`,
    `"saved_model"`), atomically. `quantize="dynamic_int8"` (LiteRT only)
    stores the weights in int8 (dynamic-range quantization)."""
    check_format(format, quantize)

    def writer(target):
        if format == "onnx":
            _write_onnx(signature, target)
        elif format == "litert":
            _write_litert(signature, target, quantize)
        else:
            _write_saved_model(signature, target)

    return write_atomically(path, format, writer)
