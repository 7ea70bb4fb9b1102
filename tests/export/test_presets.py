"""Every bundled preset exports (sequence and streaming, ONNX and LiteRT) and
agrees with its Keras model in the runtime, on random inputs and real clips, reviews, images (CIFAR-10, Pathfinder) or trees;
bidirectional presets have no streaming form."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ssm import cli, data, export, zoo
from tests.zoo.pinned import float32_tolerances

pytestmark = pytest.mark.export
ON_TF = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not ON_TF, reason="exports run on TensorFlow; the CLI test re-runs it from here")
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data")
CLIPS = os.path.join(EXAMPLES, "fsdd_test", "test.npz")
REVIEWS = os.path.join(EXAMPLES, "imdb_test", "test.npz")
IMAGES = os.path.join(EXAMPLES, "cifar10_test")
TREES = os.path.join(EXAMPLES, "listops_test")
IMAGE_SETS = {"image": IMAGES, "pathfinder32": os.path.join(EXAMPLES, "pathfinder32_test")}


def real_clips(count=4, length=1024):
    with np.load(CLIPS) as z:
        offsets = z["offsets"]
        clips = [z["audio"][offsets[i] : offsets[i + 1]][:length] for i in range(0, 300, 300 // count)]
    x = np.zeros((len(clips), length, 1), np.float32)
    mask = np.zeros((len(clips), length), bool)
    for i, clip in enumerate(clips):
        x[i, : len(clip), 0] = clip.astype(np.float32) / 32768.0
        mask[i, : len(clip)] = True
    return x, mask


def real_reviews(count=4, length=1024):
    """Byte ids (byte + 1, 0 = padding) of the first bundled IMDB test reviews."""
    tokens = np.zeros((count, length), np.int32)
    with np.load(REVIEWS) as z:
        for i in range(count):
            review = z["text_bytes"][z["offsets"][i] : z["offsets"][i + 1]][:length]
            tokens[i, : len(review)] = review.astype(np.int32) + 1
    return tokens


def real_trees(count=4, length=1024):
    """Token ids of the first bundled ListOps test trees, cut to `length`, as the ListOps loader reads them."""
    x, _ = next(iter(data.load("listops", TREES, batch_size=count, shuffle=False, bucket=False,
                               max_length=length).test))
    return x.numpy()


def real_images(task, options, count=4):
    """The first bundled CIFAR-10 or Pathfinder test images, as the preset's data options read them."""
    x, _ = next(iter(data.load(task, IMAGE_SETS[task], batch_size=count, shuffle=False, **options).test))
    return x.numpy()


def real_inputs(metadata, length=1024):
    """`(feeds of the export, the Keras model's input)` for the preset's kind of input
    (clips cut or padded to `length`)."""
    if metadata["data"]["task"] in IMAGE_SETS:
        x = real_images(metadata["data"]["task"], metadata["data"]["options"])
        mask = np.ones(x.shape[:2], bool)
        return {"inputs": x, "padding_mask": mask}, (x, mask)
    if "vocab_size" in metadata["input"]:
        tokens = real_trees() if metadata["data"]["task"] == "listops" else real_reviews()
        return {"tokens": tokens}, tokens
    x, mask = real_clips(length=length)
    return {"inputs": x, "padding_mask": mask}, (x, mask)


def vocab_size(name):
    return zoo.describe(name)["input"].get("vocab_size")


# Every preset to ONNX; LiteRT for one preset of each kind (the same graph; the CI's time is kept).
LITERT = ("fsdd_s5", "speech_commands12_s5", "lra_text_s4d", "lra_image_s5")
CASES = [(name, "onnx") for name in zoo.list_presets()] + [
    (name, "litert") for name in LITERT if name in zoo.list_presets()]
STREAMING_CASES = [(name, format) for name, format in CASES if zoo.describe(name)["architecture"]["causal"]]


@needs_tf
@pytest.mark.parametrize("name, format", CASES)
def test_preset_sequence_form(tmp_path, name, format):
    model = zoo.load(name)
    path = os.path.join(str(tmp_path), name + (".onnx" if format == "onnx" else ".tflite"))
    description = export.export_model(model, path, format=format, length=1024)
    tolerance = float32_tolerances(name)[1]  # the float32 reference's own spread
    assert export.verify(model, path, description, vocab_size=vocab_size(name)) <= tolerance
    feeds, inputs = real_inputs(zoo.describe(name))
    logits = export.ExportedModel(path)(**feeds)["logits"]
    expected = keras.ops.convert_to_numpy(model(inputs))
    assert export.verification.relative_error(logits, expected) <= tolerance
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


# Keras's own route on JAX and torch (ONNX), for one preset; on JAX also at the README's length, where
# jax2onnx would spill a large constant to external data (the export must stay one self-contained file).
KERAS_ROUTE_LENGTHS = {"jax": [1024, 4000], "torch": [1024], "tensorflow": []}[keras.backend.backend()]


@pytest.mark.parametrize("length", KERAS_ROUTE_LENGTHS)
def test_preset_sequence_form_through_the_keras_route(tmp_path, length):
    model = zoo.load("fsdd_s5")
    path = os.path.join(str(tmp_path), "fsdd_s5.onnx")
    description = export.export_model(model, path, format="onnx", length=length)
    assert sorted(os.listdir(str(tmp_path))) == ["fsdd_s5.onnx", "fsdd_s5.onnx.json"]  # self-contained
    assert description["inputs"][0]["shape"] == [None, length, 1]
    tolerance = float32_tolerances("fsdd_s5")[1]
    assert export.verify(model, path, description) <= tolerance
    feeds, inputs = real_inputs(zoo.describe("fsdd_s5"), length)
    logits = export.ExportedModel(path)(**feeds)["logits"]  # the README's call, with PATH.json's names
    expected = keras.ops.convert_to_numpy(model(inputs))
    assert export.verification.relative_error(logits, expected) <= tolerance
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


@needs_tf
@pytest.mark.parametrize("name, format", STREAMING_CASES)
def test_preset_streaming_form(tmp_path, name, format):
    model = zoo.load(name)
    path = os.path.join(str(tmp_path), name + (".onnx" if format == "onnx" else ".tflite"))
    chunk = model.backbone.stride * 4  # 320 samples (40 ms) for FSDD, 640 (40 ms) for the keyword spotters, 4 bytes
    description = export.export_model(model, path, format=format, streaming=True, chunk_size=chunk)
    assert export.verify(model, path, description, chunks=5, vocab_size=vocab_size(name)) <= 1e-4


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the re-run on TensorFlow is tested from torch (CI time)")
def test_cli_exports_and_verifies_from_any_backend(tmp_path, capsys):
    path = os.path.join(str(tmp_path), "fsdd_s5.onnx")
    argv = ["export", "fsdd_s5", "--format", "onnx", "--out", path, "--streaming", "--chunk", "80"]
    if ON_TF:
        assert cli.main(argv) == 0
        printed = capsys.readouterr().out
    else:  # the command re-runs itself on TensorFlow
        result = subprocess.run([sys.executable, "-m", "keras_ssm", *argv], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        printed = result.stdout
        assert "running on TensorFlow" in result.stderr
    assert "streaming, chunk 80" in printed and "relative error" in printed
    assert os.path.isfile(path) and os.path.isfile(path + ".json")


@needs_tf
def test_cli_holds_the_export_to_the_tolerance_given(tmp_path, capsys):
    argv = ["export", "fsdd_s5", "--format", "onnx", "--out", os.path.join(str(tmp_path), "m.onnx"), "--length", "256"]
    assert cli.main(argv + ["--tolerance", "1e-12"]) == 1  # float32 round-off is above it
    assert "(tolerance 1e-12)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(argv + ["--tolerance", "0"])
    assert "argument --tolerance: expected a positive relative error" in capsys.readouterr().err


@needs_tf
def test_cli_passes_the_sequence_chunk_to_the_export(tmp_path, capsys):
    path = os.path.join(str(tmp_path), "m.onnx")
    argv = ["export", "fsdd_s5", "--format", "onnx", "--out", path, "--length", "16000"]
    for flag, recorded in (([], 64), (["--sequence-chunk", "32"], 32), (["--sequence-chunk", "none"], None)):
        assert cli.main(argv + flag) == 0
        with open(path + ".json", encoding="utf-8") as f:
            assert json.load(f)["sequence_chunk"] == recorded
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(argv + ["--sequence-chunk", "0"])
    assert "--sequence-chunk must be a positive number of steps or 'none'" in capsys.readouterr().err
