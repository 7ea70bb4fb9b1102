"""Exports of every layer kind, uni- and bidirectional, run in their own runtimes.

On the TensorFlow pass every form and format is written from a
`tf.function` (tf2onnx, the LiteRT converter, SavedModel); on JAX and torch,
the sequence form through Keras's own `model.export` (JAX: ONNX, SavedModel;
torch: ONNX, LiteRT) and the clear error that names the TensorFlow route for
the rest.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_ssm
from keras_ssm import cli, export
from keras_ssm.export import formats, runtime
from keras_ssm.models import SSMBackbone, SSMClassifier

pytestmark = pytest.mark.export
ON_TF = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not ON_TF, reason="exports run on TensorFlow; see test_other_backends_name_the_route")

LAYERS = {
    "s4d": {"state_dim": 8},
    "dss": {"state_dim": 8, "variant": "exp"},
    "s5": {"state_dim": 8, "blocks": 2},
}
EXTENSION = {"onnx": ".onnx", "litert": ".tflite", "saved_model": ""}


def classifier(layer, bidirectional=False, seed=0, pool=(4, 1), **layer_kwargs):
    keras.utils.set_random_seed(seed)
    kwargs = dict(LAYERS[layer], bidirectional=bidirectional, **layer_kwargs)
    backbone = SSMBackbone(layer, depth=2, width=8, input_dim=1, pool=list(pool), layer_kwargs=kwargs)
    model = SSMClassifier(backbone, num_classes=3)
    # Non-trivial normalisation statistics, as a trained model has.
    for block in backbone.blocks:
        block.norm.moving_mean.assign(np.linspace(-0.2, 0.3, 8).astype("float32"))
        block.norm.moving_variance.assign(np.linspace(0.5, 2.0, 8).astype("float32"))
    return model


def out(tmp_path, name, format):
    return os.path.join(str(tmp_path), name + EXTENSION[format])


# Every format for causal models, ONNX for bidirectional ones (the same graph
# ops with a second, anti-causal convolution): the CI's time is kept.
SEQUENCE_CASES = [(f, False) for f in ("onnx", "litert", "saved_model")] + [("onnx", True)]


@needs_tf
@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("format, bidirectional", SEQUENCE_CASES)
def test_sequence_form_agrees_in_its_runtime(tmp_path, layer, bidirectional, format):
    model = classifier(layer, bidirectional)
    path = out(tmp_path, "model", format)
    description = export.export_model(model, path, format=format, length=64)
    assert [i["name"] for i in description["inputs"]] == ["inputs", "padding_mask"]
    assert export.verify(model, path, description) <= 1e-4  # a padded second example included
    assert os.path.exists(path + ".json")
    if format == "onnx":
        import onnx

        graph = onnx.load(path).graph
        types = {node.op_type for node in graph.node}
        assert not types & {"DFT", "STFT"}, types
        assert {i.type.tensor_type.elem_type for i in graph.input} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.BOOL}


@needs_tf
@pytest.mark.parametrize("layer, format", [(layer, f) for layer in sorted(LAYERS) for f in ("onnx", "litert")]
                         + [("s5", "saved_model")])
def test_streaming_form_equals_the_full_pass(tmp_path, layer, format):
    model = classifier(layer)
    path = out(tmp_path, "stream", format)
    description = export.export_model(model, path, format=format, streaming=True, chunk_size=16)
    assert description["outputs"][0] == "logits"
    assert [s["name"] for s in description["state"]] == ["block_0", "block_1", "pool_sum", "pool_count", "pool_last"]
    assert description["state"][0]["shape"][-1] == 2  # real and imaginary parts
    assert export.verify(model, path, description, chunks=5) <= 1e-4


@needs_tf
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_a_log_mel_front_end_exports_and_streams(tmp_path, format):
    keras.utils.set_random_seed(2)
    backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, frontend={"sample_rate": 16000},
                           layer_kwargs={"state_dim": 4})
    model = SSMClassifier(backbone, num_classes=3)
    path = out(tmp_path, "frontend", format)
    description = export.export_model(model, path, format=format, length=1600)
    assert export.verify(model, path, description) <= 1e-4
    path = out(tmp_path, "frontend_stream", format)
    description = export.export_model(model, path, format=format, streaming=True, chunk_size=320)
    assert [s["name"] for s in description["state"]][:2] == ["block_0", "frontend"]
    assert description["state"][1]["shape"] == [1, 240, 1]  # the 25 ms window reaches 15 ms back
    assert export.verify(model, path, description, chunks=4) <= 1e-4


@needs_tf
def test_token_and_sequential_models(tmp_path):
    keras.utils.set_random_seed(1)
    tokens = SSMClassifier(SSMBackbone("s5", depth=1, width=8, vocab_size=12, layer_kwargs={"state_dim": 4}), 2)
    path = out(tmp_path, "tokens", "onnx")
    description = export.export_model(tokens, path, length=32)
    assert description["inputs"] == [{"name": "tokens", "shape": [None, 32], "dtype": "int32"}]
    assert export.verify(tokens, path, description, vocab_size=12) <= 1e-4
    sequential = keras.Sequential([keras.Input((None, 3)), keras_ssm.S5Layer(state_dim=8, seed=0), keras.layers.Dense(2)])
    path = out(tmp_path, "sequential", "litert")
    description = export.export_model(sequential, path, format="litert", length=40)
    assert description["outputs"] == ["outputs"]
    assert export.verify(sequential, path, description) <= 1e-4


@needs_tf
def test_dss_softmax_exports_without_a_mask(tmp_path):
    model = classifier("dss", variant="softmax", pool=(1, 1))
    path = out(tmp_path, "softmax", "onnx")
    with pytest.warns(UserWarning, match="`padding_mask` dropped"):
        description = export.export_model(model, path, length=48)
    assert [i["name"] for i in description["inputs"]] == ["inputs"]
    assert export.verify(model, path, description) <= 1e-4
    for refused, kwargs in ((model, {"mask": True}), (classifier("dss", variant="softmax"), {})):
        with pytest.raises(ValueError, match="DSS-softmax under a mask"):
            export.export_model(refused, out(tmp_path, "refused", "onnx"), length=48, **kwargs)
    assert sorted(os.listdir(str(tmp_path))) == ["softmax.onnx", "softmax.onnx.json"]


@needs_tf
def test_dss_softmax_says_it_dropped_the_mask_in_the_sidecar_and_the_cli(tmp_path, capsys):
    model = classifier("dss", variant="softmax", pool=(1, 1))
    path = out(tmp_path, "softmax", "onnx")
    with pytest.warns(UserWarning, match="`padding_mask` dropped"):
        export.export_model(model, path, length=48)
    with open(path + ".json") as f:
        notes = json.load(f)["warnings"]
    assert len(notes) == 1 and "exactly `length` samples" in notes[0] and "variant='exp'" in notes[0]
    with pytest.raises(ValueError, match="take no padding mask in an export") as error:
        export.export_model(model, out(tmp_path, "no_length", "onnx"))
    assert "zero-padded with `padding_mask`" not in str(error.value)
    saved = os.path.join(str(tmp_path), "softmax.keras")
    model.save(saved)
    argv = ["export", saved, "--format", "onnx", "--out", out(tmp_path, "cli", "onnx"), "--length", "48"]
    assert cli.main(argv) == 0
    assert "  warning: `padding_mask` dropped" in capsys.readouterr().out
    plain = classifier("dss", pool=(1, 1))  # variant="exp" keeps its mask: no warning
    assert export.export_model(plain, out(tmp_path, "exp", "onnx"), length=48)["warnings"] == []


@needs_tf
@pytest.mark.parametrize("format", ["onnx", "litert", "saved_model"])
def test_a_stream_that_ends_part_way_through_a_chunk_gets_the_full_pass(tmp_path, format):
    model = classifier("s4d")  # stride 4
    path = out(tmp_path, "stream", format)
    description = export.export_model(model, path, format=format, streaming=True, chunk_size=16)
    assert description["inputs"][-1] == {"name": "valid", "shape": [1], "dtype": "int32", "default": 16}
    clip = np.random.default_rng(3).uniform(-1, 1, (1, 16 * 3 + 7, 1)).astype("float32")  # 55: not whole strides
    padded = np.zeros((1, 16 * 4, 1), np.float32)
    padded[:, : clip.shape[1]] = clip
    exported = export.ExportedModel(path)
    state = {s["name"]: np.zeros(s["shape"], np.float32) for s in description["state"]}
    for start in range(0, 64, 16):
        valid = min(16, clip.shape[1] - start)
        outputs = exported(inputs=padded[:, start : start + 16], valid=[valid], **state)
        state = {s: outputs[f"next_{s}"] for s in state}
    expected = keras.ops.convert_to_numpy(model(clip))
    assert export.verification.relative_error(outputs["logits"], expected) <= 1e-4
    # Without `valid` the padding counts as audio: another answer.
    state = {s["name"]: np.zeros(s["shape"], np.float32) for s in description["state"]}
    for start in range(0, 64, 16):
        outputs = exported(inputs=padded[:, start : start + 16], **state)
        state = {s: outputs[f"next_{s}"] for s in state}
    assert export.verification.relative_error(outputs["logits"], expected) > 1e-3


@needs_tf
def test_a_fixed_batch_runs_one_example_at_a_time_or_names_its_size(tmp_path):
    model = classifier("s5")
    feeds = export.verification.sample_inputs({"inputs": [{"name": "inputs", "shape": [None, 32, 1],
                                                           "dtype": "float32"}, {"name": "padding_mask"}]}, 3)
    expected = keras.ops.convert_to_numpy(model([feeds["inputs"], feeds["padding_mask"]]))
    path = out(tmp_path, "one", "onnx")
    export.export_model(model, path, length=32, batch_size=1)
    logits = export.ExportedModel(path)(**feeds)["logits"]
    assert export.verification.relative_error(logits, expected) <= 1e-4
    path = out(tmp_path, "two", "onnx")
    export.export_model(model, path, length=32, batch_size=2)
    with pytest.raises(ValueError, match="takes a batch of exactly 2 .* got 3"):
        export.ExportedModel(path)(**feeds)


def test_an_onnx_file_with_external_data_is_moved_in_whole(tmp_path):
    import onnx
    from onnx import helper

    weights = np.arange(300_000, dtype=np.float32)  # 1.2 MB: over jax2onnx's 1 MB spill
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [300_000])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [300_000])],
        [onnx.numpy_helper.from_array(weights, "w")])

    def writer(target):  # as jax2onnx saves a large constant
        onnx.save_model(helper.make_model(graph), target, save_as_external_data=True,
                        location=os.path.basename(target) + ".data", size_threshold=1024)
        assert os.path.isfile(target + ".data")

    path = out(tmp_path, "model", "onnx")
    formats.write_atomically(path, "onnx", writer)
    assert sorted(os.listdir(str(tmp_path))) == ["model.onnx"]
    y = export.ExportedModel(path)(x=np.ones(300_000, np.float32))["y"]
    np.testing.assert_array_equal(y, weights + 1)


@needs_tf
def test_dynamic_int8_litert_stays_close(tmp_path):
    model = classifier("s5")
    path = out(tmp_path, "int8", "litert")
    description = export.export_model(model, path, format="litert", length=64, quantize="dynamic_int8")
    assert description["quantize"] == "dynamic_int8"
    assert export.verify(model, path, description) <= 5e-2


@needs_tf
@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs a fixed `length`"),
    ({"length": 0}, "`length` must be a positive integer"),
    ({"length": 32, "format": "tflite"}, "`format` must be one of"),
    ({"length": 32, "quantize": "dynamic_int8"}, "LiteRT format only"),
    ({"streaming": True}, "needs `chunk_size`"),
    ({"streaming": True, "chunk_size": 10}, "multiple of the model's stride"),
    ({"streaming": True, "chunk_size": 16, "length": 16}, "`length` is for the sequence form"),
])
def test_bad_arguments_say_what_to_do(tmp_path, kwargs, message):
    model = classifier("s4d")
    path = out(tmp_path, "bad", "onnx")
    with pytest.raises(ValueError, match=message):
        export.export_model(model, path, **kwargs)
    assert os.listdir(str(tmp_path)) == []


@needs_tf
def test_streaming_needs_a_causal_classifier(tmp_path):
    with pytest.raises(ValueError, match="causal"):
        export.export_model(classifier("s5", bidirectional=True), out(tmp_path, "x", "onnx"), streaming=True, chunk_size=16)
    backbone = classifier("s5").backbone
    with pytest.raises(ValueError, match="SSMClassifier"):
        export.export_model(backbone, out(tmp_path, "x", "onnx"), streaming=True, chunk_size=16)


@needs_tf
def test_a_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    def broken(signature, path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise RuntimeError("converter failed")

    monkeypatch.setattr(formats, "_write_onnx", broken)
    with pytest.raises(RuntimeError, match="converter failed"):
        export.export_model(classifier("s4d"), out(tmp_path, "model", "onnx"), length=32)
    assert os.listdir(str(tmp_path)) == []


ROUTES = {"jax": ["onnx", "saved_model"], "torch": ["onnx", "litert"], "tensorflow": []}
# ONNX for every layer kind, the second format and a bidirectional model with S5 (the CI's time).
KERAS_ROUTES = (
    [("onnx", layer, False) for layer in sorted(LAYERS)] + [("onnx", "s5", True)]
    + [(f, "s5", False) for f in ROUTES[keras.backend.backend()] if f != "onnx"]
)


@pytest.mark.skipif(ON_TF, reason="the TensorFlow pass runs the tf.function route above")
@pytest.mark.parametrize("format, layer, bidirectional", KERAS_ROUTES)
def test_keras_route_of_this_backend(tmp_path, layer, format, bidirectional):
    model = classifier(layer, bidirectional)
    path = out(tmp_path, "model", format)
    description = export.export_model(model, path, format=format, length=64, batch_size=2)
    assert description["backend"] == keras.backend.backend()
    assert len(description["runtime_inputs"]) == 2  # audio and padding mask
    assert export.verify(model, path, description) <= 1e-4


@pytest.mark.skipif(ON_TF, reason="the TensorFlow pass runs the tf.function route above")
@pytest.mark.parametrize("format", ROUTES[keras.backend.backend()])
def test_keras_route_takes_the_described_names_and_any_batch(tmp_path, format):
    model = classifier("s5")
    path = out(tmp_path, "model", format)
    description = export.export_model(model, path, format=format, length=64)
    feeds = export.verification.sample_inputs(description, 3)
    logits = export.ExportedModel(path)(**feeds)["logits"]  # the names of PATH.json, a batch of 3
    expected = keras.ops.convert_to_numpy(model([feeds["inputs"], feeds["padding_mask"]]))
    assert logits.shape == (3, 3)
    assert export.verification.relative_error(logits, expected) <= 1e-4
    fixed = (keras.backend.backend(), format) == ("torch", "litert")  # litert-torch: run one at a time
    assert description["inputs"][0]["shape"] == [1 if fixed else None, 64, 1]


@pytest.mark.skipif(ON_TF, reason="the TensorFlow pass runs the tf.function route above")
def test_keras_route_that_fails_after_writing_leaves_nothing(tmp_path, monkeypatch):
    def unreadable(self):
        raise RuntimeError("the runtime cannot open it")

    monkeypatch.setattr(runtime.ExportedModel, "_load_onnx", unreadable)
    with pytest.raises(RuntimeError, match="cannot open it"):
        export.export_model(classifier("s5"), out(tmp_path, "model", "onnx"), length=32)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.skipif(ON_TF, reason="the error is for the other backends")
def test_other_backends_name_the_route(tmp_path):
    refused = sorted(set(export.FORMATS) - set(ROUTES[keras.backend.backend()]))
    with pytest.raises(RuntimeError, match="python -m keras_ssm export"):
        export.export_model(classifier("s5"), out(tmp_path, "x", refused[0]), format=refused[0], length=32)
    with pytest.raises(RuntimeError, match="streaming form"):
        export.export_model(classifier("s5"), out(tmp_path, "x", "onnx"), streaming=True, chunk_size=16)
    assert os.listdir(str(tmp_path)) == []
