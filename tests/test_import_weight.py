"""`import keras_ssm` loads neither TensorFlow (on JAX or torch), nor the tuner, nor the exporters."""

import os
import subprocess
import sys

import keras
import pytest

HEAVY = ("tensorflow", "keras_tuner", "onnx", "onnxruntime", "tf2onnx", "jax2onnx", "ai_edge_litert", "litert_torch")


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="the TensorFlow backend is TensorFlow")
def test_import_keras_ssm_stays_light():
    code = f"import sys, keras_ssm; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == ""
