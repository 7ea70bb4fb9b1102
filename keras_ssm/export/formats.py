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
    _fold_constant_shapes(path)


def _fold_constant_shapes(path):
    """Replaces each `Shape` of a constant in the ONNX file at `path` by its
    value, and drops the constants nothing reads then: tf2onnx's Einsum keeps
    a reshaped copy of a constant operand for its shape alone, which doubles
    the size of an S4D / DSS chunk's constants."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(path)
    graph = proto.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return  # a subgraph may read a constant by name
    dims = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Shape" and node.input[0] in dims and not node.attribute:
            value = numpy_helper.from_array(np.array(dims[node.input[0]], np.int64))
            node.CopyFrom(helper.make_node("Constant", [], list(node.output), name=node.name, value=value))
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in read]
    if len(kept) < len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)
        onnx.save_model(proto, path)


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


def _self_contained_onnx(path):
    """Folds the external data of the ONNX file at `path` back into it, so
    the file is the whole model (a converter such as jax2onnx spills each
    constant over 1 MB into `PATH.data`, which a move of the file alone
    leaves behind). Over protobuf's 2 GB the data stays external, re-saved as
    `path + ".data"`; returns the files that make the model."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    proto = onnx.load(path, load_external_data=False)
    spilled = {entry.value for tensor in proto.graph.initializer if uses_external_data(tensor)
               for entry in tensor.external_data if entry.key == "location"}
    if not spilled:
        return [path]
    folder = os.path.dirname(path)
    onnx.load_external_data_for_model(proto, folder)
    for name in spilled:
        os.remove(os.path.join(folder, name))
    if proto.ByteSize() < 2**31 - 2**20:  # protobuf's limit, with room for the graph's framing
        onnx.save_model(proto, path)
        return [path]
    data = path + ".data"
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=os.path.basename(data))
    return [path, data]


def check_format(format, quantize=None):
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {list(FORMATS)}, got {format!r}.")
    if quantize is not None and format != "litert":
        raise ValueError(f"`quantize` applies to the LiteRT format only, not {format!r}.")


def write_atomically(path, format, writer, check=None):
    """Runs `writer(target)` on a staging path beside `path`, then
    `check(target)` (if given) on the finished artifact, then renames it into
    place: a failure leaves nothing behind. An ONNX file is made
    self-contained first (`_self_contained_onnx`)."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        # The destination's own name: external data keeps a name the moved model points at.
        name = os.path.basename(path)
        target = os.path.join(staging, name if name.endswith(EXTENSIONS[format]) else name + EXTENSIONS[format])
        writer(target)
        files = _self_contained_onnx(target) if format == "onnx" else [target]
        if check is not None:
            check(target)
        if os.path.isdir(path):
            shutil.rmtree(path)
        for file in files[1:]:  # the external data first: the model never points at a missing file
            os.replace(file, os.path.join(parent, os.path.basename(file)))
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
