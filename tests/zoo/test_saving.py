import json
import os

import pytest

from keras_ssm import zoo
from tests.zoo.conftest import METADATA, tiny_classifier


def leftovers(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith("."))


@pytest.mark.parametrize(
    "metadata, pattern",
    [
        ({key: value for key, value in METADATA.items() if key != "labels"}, "`labels` is missing"),
        ({key: value for key, value in METADATA.items() if key != "input"}, "`input` is missing"),
        ({**METADATA, "task": ""}, "`task` must be a non-empty string"),
        ({**METADATA, "metrics": [0.5]}, "`metrics` must be a dict"),
        ({**METADATA, "evaluate": None}, "`evaluate` must be the command"),
        ({**METADATA, "input": {"shape": [None, 1]}}, "`input.dtype` is missing"),
        ({**METADATA, "input": {**METADATA["input"], "sample_rate": -1}}, "`input.sample_rate` must be a positive"),
        ({**METADATA, "labels": ["a", "b"]}, "must name the 3 classes"),
        ({**METADATA, "labels": ["a", "a", "b"]}, "distinct class names"),
        ("not a dict", "must hold a JSON object"),
    ],
)
def test_save_preset_refuses_incomplete_metadata(metadata, pattern, saved, tmp_path):
    with pytest.raises(ValueError, match=pattern):
        zoo.save_preset(saved[2], tmp_path / "preset", metadata)
    assert not (tmp_path / "preset").exists()
    assert leftovers(tmp_path) == []


def test_save_preset_writes_and_hashes_everything(saved, tmp_path):
    folder = tmp_path / "preset"
    (folder / "plots").mkdir(parents=True)
    (folder / "README.md").write_text("card")
    (folder / "plots" / "loss.png").write_bytes(b"\x89PNG")
    metadata = {**METADATA, "parameters": 7}
    returned = zoo.save_preset(saved[2], folder, metadata)
    assert returned == folder.resolve()
    written = json.loads((folder / "metadata.json").read_text())
    assert sorted(written["files"]) == ["README.md", "config.json", "model.weights.h5", "plots/loss.png"]
    assert written["parameters"] == 7  # given ones are kept
    assert written["versions"]["keras_ssm"] == __import__("keras_ssm").__version__
    assert "files" not in metadata  # the caller's dict is not changed
    assert leftovers(tmp_path) == []


def test_saving_again_replaces_the_preset_and_keeps_other_files(saved, tmp_path):
    folder = tmp_path / "preset"
    zoo.save_preset(saved[2], folder, METADATA)
    (folder / "README.md").write_text("card")
    other = tiny_classifier(seed=1)
    zoo.save_preset(other, folder, {**METADATA, "metrics": {"accuracy": 0.9}})
    assert zoo.describe(folder)["metrics"] == {"accuracy": 0.9}
    assert "README.md" in zoo.describe(folder)["files"]
    assert (folder / "README.md").read_text() == "card"
    zoo.load(folder)
    assert leftovers(tmp_path) == []


def test_a_failed_save_leaves_the_folder_as_it_was(saved, tmp_path, monkeypatch):
    folder = tmp_path / "preset"
    zoo.save_preset(saved[2], folder, METADATA)
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    model = tiny_classifier(seed=1)

    def broken_save_weights(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_weights", broken_save_weights)
    with pytest.raises(OSError, match="disk full"):
        zoo.save_preset(model, folder, METADATA)
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert leftovers(tmp_path) == []


def test_save_preset_refuses_a_model_that_is_not_keras_ssm(tmp_path):
    import keras

    inputs = keras.Input((None, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(zoo.PresetError, match="not a keras_ssm model"):
        zoo.save_preset(model, tmp_path / "preset", METADATA)
    assert not (tmp_path / "preset").exists()
