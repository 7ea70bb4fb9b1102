"""Every bundled preset exports (sequence and streaming, ONNX and LiteRT) and
agrees with its Keras model in the runtime, on random audio and real clips."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ssm import cli, export, zoo

pytestmark = pytest.mark.export
ON_TF = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not ON_TF, reason="exports run on TensorFlow; the CLI test re-runs it from here")
CLIPS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data", "fsdd_test", "test.npz")


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


# Every preset to ONNX; LiteRT for one preset of each kind (the same graph; the CI's time is kept).
CASES = [(name, "onnx") for name in zoo.list_presets()] + [
    (name, "litert") for name in ("fsdd_s5", "speech_commands12_s5") if name in zoo.list_presets()]


@needs_tf
@pytest.mark.parametrize("name, format", CASES)
def test_preset_sequence_form(tmp_path, name, format):
    model = zoo.load(name)
    path = os.path.join(str(tmp_path), name + (".onnx" if format == "onnx" else ".tflite"))
    description = export.export_model(model, path, format=format, length=1024)
    assert export.verify(model, path, description) <= 1e-4
    x, mask = real_clips()
    logits = export.ExportedModel(path)(inputs=x, padding_mask=mask)["logits"]
    expected = keras.ops.convert_to_numpy(model((x, mask)))
    assert export.verification.relative_error(logits, expected) <= 1e-4
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


@needs_tf
@pytest.mark.parametrize("name, format", CASES)
def test_preset_streaming_form(tmp_path, name, format):
    model = zoo.load(name)
    path = os.path.join(str(tmp_path), name + (".onnx" if format == "onnx" else ".tflite"))
    chunk = model.backbone.stride * 4  # 128 samples (16 ms) for FSDD, 640 (40 ms) for the keyword spotters
    description = export.export_model(model, path, format=format, streaming=True, chunk_size=chunk)
    assert export.verify(model, path, description, chunks=5) <= 1e-4


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the re-run on TensorFlow is tested from torch (CI time)")
def test_cli_exports_and_verifies_from_any_backend(tmp_path, capsys):
    path = os.path.join(str(tmp_path), "fsdd_s5.onnx")
    argv = ["export", "fsdd_s5", "--format", "onnx", "--out", path, "--streaming", "--chunk", "64"]
    if ON_TF:
        assert cli.main(argv) == 0
        printed = capsys.readouterr().out
    else:  # the command re-runs itself on TensorFlow
        result = subprocess.run([sys.executable, "-m", "keras_ssm", *argv], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        printed = result.stdout
        assert "running on TensorFlow" in result.stderr
    assert "streaming, chunk 64" in printed and "relative error" in printed
    assert os.path.isfile(path) and os.path.isfile(path + ".json")
