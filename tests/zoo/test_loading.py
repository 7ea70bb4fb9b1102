import json
import pathlib

import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier
from keras_ssm.zoo import registry
from tests.zoo.conftest import METADATA, outputs, rewrite_metadata


def test_load_from_folder_gives_the_same_predictions(saved):
    folder, expected, _ = saved
    for name_or_path in (folder, str(folder)):
        model = zoo.load(name_or_path)
        assert isinstance(model, SSMClassifier)
        np.testing.assert_allclose(outputs(model), expected, atol=1e-6)
    assert zoo.preset_path(str(folder)) == folder.resolve()


def test_describe_is_the_checked_metadata(saved):
    folder, _, model = saved
    metadata = zoo.describe(folder)
    assert {key: metadata[key] for key in METADATA} == METADATA
    assert sorted(metadata["files"]) == ["README.md", "config.json", "model.weights.h5"]
    for name, digest in metadata["files"].items():
        assert zoo.verify.sha256_file(folder / name) == digest
    assert metadata["parameters"] == model.count_params()
    assert set(metadata["versions"]) == {"keras", "keras_ssm", "backend"}
    # A copy: editing it changes nothing on disk.
    metadata["labels"].append("oops")
    assert zoo.describe(folder)["labels"] == METADATA["labels"]


def test_bundled_presets_by_name(bundled, saved):
    assert zoo.list_presets() == ["b-other", "tiny-s4d"]
    assert zoo.preset_path("tiny-s4d") == bundled / "tiny-s4d"
    assert zoo.describe("b-other")["task"] == METADATA["task"]
    np.testing.assert_allclose(outputs(zoo.load("tiny-s4d")), saved[1], atol=1e-6)


def test_bundled_root_is_the_checkouts_zoo():
    """In a source checkout (and an editable install) the bundled presets are `zoo/` in place."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    names = sorted(p.name for p in (repo / "zoo").glob("*") if (p / "metadata.json").is_file())
    if (repo / "zoo").is_dir():
        assert registry.bundled_root() == repo / "zoo"
    assert zoo.list_presets() == names


def test_no_bundled_root_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BUNDLED_ROOT", tmp_path / "absent")
    assert zoo.list_presets() == []
    with pytest.raises(zoo.PresetError, match="Bundled presets: none"):
        zoo.load("tiny-s4d")


def test_sample_rate_retargets_the_steps(preset):
    model = zoo.load(preset, sample_rate=16000)
    assert model.backbone.step_scale == pytest.approx(8000 / 16000)
    # Kept in the config: it saves and loads as such.
    assert model.get_config()["backbone"]["config"]["step_scale"] == pytest.approx(0.5)
    assert not np.allclose(outputs(model), outputs(zoo.load(preset)), atol=1e-6)
    slower = SSMClassifier.from_preset(preset, sample_rate=4000)
    assert slower.backbone.step_scale == pytest.approx(2.0)
    with pytest.raises(ValueError, match="`sample_rate` must be a positive number"):
        zoo.load(preset, sample_rate=0)


def test_sample_rate_needs_a_trained_rate(preset):
    metadata = json.loads((preset / "metadata.json").read_text())
    del metadata["input"]["sample_rate"]
    rewrite_metadata(preset, input=metadata["input"])
    with pytest.raises(ValueError, match="sample_rate"):
        zoo.load(preset, sample_rate=16000)


def test_compile_makes_a_model_ready_to_evaluate(saved):
    model = zoo.load(saved[0], compile=True)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 20, 1)).astype("float32")
    results = model.evaluate(x, np.array([0, 1, 2, 0]), verbose=0, return_dict=True)
    assert set(results) >= {"loss", "accuracy"}


def test_from_preset_checks_the_class(saved, tmp_path):
    folder, expected, model = saved
    classifier = SSMClassifier.from_preset(folder)
    assert type(classifier) is SSMClassifier
    np.testing.assert_allclose(outputs(classifier), expected, atol=1e-6)
    backbone = SSMBackbone.from_preset(folder)
    assert type(backbone) is SSMBackbone
    np.testing.assert_allclose(outputs(backbone), outputs(model.backbone), atol=1e-6)
    with pytest.raises(zoo.PresetError, match="holds a SSMClassifier, not a SSMRetrievalClassifier"):
        SSMRetrievalClassifier.from_preset(folder)

    backbone_folder = zoo.save_preset(model.backbone, tmp_path / "backbone", {**METADATA, "task": "features", "labels": []})
    assert type(SSMBackbone.from_preset(backbone_folder)) is SSMBackbone
    with pytest.raises(zoo.PresetError, match="holds a SSMBackbone, not a SSMClassifier"):
        SSMClassifier.from_preset(backbone_folder)
    assert type(zoo.from_preset(SSMBackbone, backbone_folder)) is SSMBackbone
    with pytest.raises(ValueError, match="`compile=True` compiles a classifier"):
        zoo.load(backbone_folder, compile=True)
