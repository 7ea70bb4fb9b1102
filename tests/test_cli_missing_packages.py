"""A command whose optional package is not installed says what to install
in one sentence, exit code 2, no traceback (issue #29, item 8).

The commands run as a user runs them (`python -m keras_ssm ...`, a new
process, and for `export` the process it starts on TensorFlow) with
TensorFlow made unimportable by a `sitecustomize` module: a JAX-only or
torch-only install."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_ssm.cli import missing_package_message

ROOT = Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()


def run_without_tensorflow(tmp_path, *argv):
    if BACKEND == "tensorflow":
        pytest.skip("simulates an install without TensorFlow: runs in the JAX and torch passes")
    (tmp_path / "sitecustomize.py").write_text('import sys\nsys.modules["tensorflow"] = None\n')
    env = dict(os.environ, KERAS_BACKEND=BACKEND, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "keras_ssm", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fmt, extra", [("onnx", "export-onnx"), ("litert", "export-litert")])
def test_export_without_tensorflow_names_the_extra(tmp_path, fmt, extra):
    result = run_without_tensorflow(tmp_path, "export", "fsdd_s5", "--format", fmt, "--out", str(tmp_path / "m"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f'needs the package tensorflow, which is not installed: pip install "keras-ssm[{extra}]"' in result.stderr
    assert not (tmp_path / "m").exists()


def test_zoo_evaluate_without_tensorflow_names_the_extra(tmp_path):
    result = run_without_tensorflow(tmp_path, "zoo", "evaluate", "fsdd_s5", "--data", "examples/data/fsdd_test")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: `python -m keras_ssm zoo evaluate` needs the package tensorflow, which is not installed: "
        'pip install "keras-ssm[data]" (in a clone: pip install -e ".[data]").'
    )


def test_other_missing_modules_keep_their_traceback():
    assert missing_package_message(ModuleNotFoundError(name="keras_ssm.gone"), "demo") is None
    message = missing_package_message(ModuleNotFoundError(name="keras_tuner.engine"), "tune")
    assert 'pip install "keras-ssm[tune]"' in message
