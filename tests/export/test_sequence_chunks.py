"""The sequence form in chunks (`keras_ssm.export.sequence_chunks`) equals Keras.

Lengths are not multiples of the chunk and a padded second example is
included; the ONNX graphs are checked to hold no kernel that spans more
than a few chunks, so an export that silently kept the whole-length
kernels fails.
"""

import os

import keras
import numpy as np
import pytest

import keras_ssm
from keras_ssm import export
from keras_ssm.export import real_arithmetic
from keras_ssm.export.sequence_chunks import chunked_sequence, min_chunked_length, scan_states
from tests.export.test_export import LAYERS, ON_TF, classifier, needs_tf, out

pytestmark = pytest.mark.export
CHUNK = 16
# Block 0 sees 1000 steps, block 1 (after a pool of 4) 250: both above
# `min_chunked_length` for every layer kind at chunk 16.
LENGTH = 1000


def longest_span(path):
    """The most steps any kernel of the ONNX graph at `path` spans: the taps
    of a convolution, or the longest axis of a stored constant (a chunk's
    matrices span the chunk plus the state)."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(path)).graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.value_info})
    constants = {n.output[0]: list(n.attribute[0].t.dims) for n in graph.node
                 if n.op_type == "Constant" and n.attribute[0].name == "value"}
    shapes.update(constants)
    taps = [max(shapes[node.input[1]][2:]) for node in graph.node if node.op_type == "Conv"]
    stored = [max(dims) for dims in [*(list(t.dims) for t in graph.initializer), *constants.values()] if dims]
    return max(taps + stored)


def test_scan_states_equals_the_recurrence():
    rng = np.random.default_rng(0)
    log_z = np.log(rng.uniform(0.5, 0.99, 3) * np.exp(1j * rng.uniform(-3, 3, 3)))
    v = rng.standard_normal((2, 37, 3)) + 1j * rng.standard_normal((2, 37, 3))
    re, im = scan_states(v.real.astype("float32"), v.imag.astype("float32"), log_z)
    x, expected = np.zeros((2, 3), complex), []
    for k in range(37):
        x = np.exp(log_z) * x + v[:, k]
        expected.append(x)
    expected = np.stack(expected, axis=1)
    actual = keras.ops.convert_to_numpy(re) + 1j * keras.ops.convert_to_numpy(im)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_chunked_layer_equals_its_whole_pass_under_a_mask(layer, bidirectional):
    keras.utils.set_random_seed(3)
    cls = {"s4d": keras_ssm.S4DLayer, "dss": keras_ssm.DSSLayer, "s5": keras_ssm.S5Layer}[layer]
    ssm = cls(**LAYERS[layer], bidirectional=bidirectional)
    x = np.random.default_rng(1).standard_normal((2, 301, 4)).astype("float32")
    mask = np.arange(301)[None] < np.array([[301], [190]])
    expected = keras.ops.convert_to_numpy(ssm(x, mask=mask))
    assert min_chunked_length(ssm, CHUNK) <= 301
    with real_arithmetic(ssm), chunked_sequence(ssm, CHUNK):
        chunked = keras.ops.convert_to_numpy(ssm(x, mask=mask))
    np.testing.assert_allclose(chunked, expected, atol=1e-5 * np.abs(expected).max())
    assert "_real_mix" not in vars(ssm)  # the layer is itself again


@needs_tf
@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_chunked_sequence_form_equals_keras_in_its_runtime(tmp_path, layer, format):
    model = classifier(layer)
    path = out(tmp_path, "chunked", format)
    description = export.export_model(model, path, format=format, length=LENGTH, sequence_chunk=CHUNK)
    assert description["sequence_chunk"] == CHUNK
    assert [i["name"] for i in description["inputs"]] == ["inputs", "padding_mask"]
    assert export.verify(model, path, description) <= 1e-4  # a padded second example included
    if format == "onnx":
        import onnx

        assert longest_span(path) <= 4 * CHUNK  # never the input's length (250 or 1000)
        # No constant is stored for its shape alone (tf2onnx's Einsum keeps such copies).
        graph = onnx.load(path).graph
        constants = {t.name for t in graph.initializer}
        assert not [node.name for node in graph.node if node.op_type == "Shape" and node.input[0] in constants]


@needs_tf
def test_whole_length_form_is_kept_on_request(tmp_path):
    model = classifier("s5")
    path = out(tmp_path, "whole", "onnx")
    description = export.export_model(model, path, length=LENGTH, sequence_chunk=None)
    assert description["sequence_chunk"] is None
    assert longest_span(path) == LENGTH
    assert export.verify(model, path, description) <= 1e-4


@needs_tf
@pytest.mark.parametrize("layer", ["s4d", "s5"])
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_bidirectional_layers_run_in_chunks_both_ways(tmp_path, layer, format):
    model = classifier(layer, bidirectional=True)
    path = out(tmp_path, "bidirectional", format)
    description = export.export_model(model, path, format=format, length=LENGTH, sequence_chunk=CHUNK)
    assert export.verify(model, path, description) <= 1e-4
    if format == "onnx":
        assert longest_span(path) <= 4 * CHUNK


@needs_tf
def test_a_short_input_keeps_the_whole_length_convolution(tmp_path):
    model = classifier("s4d", pool=(1, 1))
    length = min_chunked_length(model.backbone.blocks[0].layer, CHUNK) - 1
    path = out(tmp_path, "short", "onnx")
    description = export.export_model(model, path, length=length, sequence_chunk=CHUNK)
    assert longest_span(path) == length
    assert export.verify(model, path, description) <= 1e-4


@pytest.mark.skipif(ON_TF, reason="the TensorFlow pass runs the tf.function route above")
@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_chunked_keras_route_of_this_backend(tmp_path, layer, bidirectional):
    model = classifier(layer, bidirectional=bidirectional)
    path = out(tmp_path, "chunked", "onnx")
    description = export.export_model(model, path, format="onnx", length=LENGTH, sequence_chunk=CHUNK,
                                      batch_size=2)
    assert description["sequence_chunk"] == CHUNK
    assert export.verify(model, path, description) <= 1e-4
    assert longest_span(path) <= 4 * CHUNK  # never the input's length (250 or 1000)


def test_a_bad_sequence_chunk_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sequence_chunk"):
        export.export_model(classifier("s5"), out(tmp_path, "bad", "onnx"), length=64, sequence_chunk=0)
    assert os.listdir(str(tmp_path)) == []
