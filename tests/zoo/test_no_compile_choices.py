"""A preset carries no compile choices of the machine that saved it (DESIGN.md):
`zoo.load(name)` returns an uncompiled model, so a user's first `predict` and
`fit` use their own backend's defaults (on torch, no torch.compile)."""

import hashlib
import json

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier


@pytest.mark.parametrize("name", zoo.list_presets())
def test_bundled_config_holds_no_compile_config(name):
    with open(zoo.preset_path(name) / "config.json", encoding="utf-8") as file:
        assert "compile_config" not in json.load(file)


def _tiny(tmp_path, compiled):
    model = SSMClassifier(
        SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4}), num_classes=2
    )
    if compiled:
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
    return zoo.save_preset(model, tmp_path / "tiny", {
        "task": "audio-classification", "labels": ["no", "yes"],
        "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
        "metrics": {}, "evaluate": "none: an untrained example",
    })


def test_save_preset_drops_the_compile_config(tmp_path):
    folder = _tiny(tmp_path, compiled=True)
    with open(folder / "config.json", encoding="utf-8") as file:
        assert "compile_config" not in json.load(file)


def test_load_returns_an_uncompiled_model_unless_asked(tmp_path):
    folder = _tiny(tmp_path, compiled=False)
    # A folder saved by an older keras_ssm, with its publisher's compile choices.
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    compiled = SSMClassifier.from_config(config["config"])
    compiled.compile(optimizer="adam", loss="mse", jit_compile=True)
    config["compile_config"] = keras.saving.serialize_keras_object(compiled.get_compile_config())
    config_path.write_text(json.dumps(config))
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"]["config.json"] = hashlib.sha256(config_path.read_bytes()).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(metadata))

    model = zoo.load(folder)
    assert not model.compiled
    x = np.zeros((1, 16, 1), "float32")
    model.predict(x, verbose=0)
    assert not model.jit_compile or keras.backend.backend() != "torch"
    evaluated = zoo.load(folder, compile=True)
    assert evaluated.compiled and evaluated.loss is not None
