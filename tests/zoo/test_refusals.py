"""Every damaged or unsafe preset is refused before anything is built, with an
error naming the file or field, and a failed download leaves nothing in the cache."""

import json
import os

import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from tests.zoo.conftest import METADATA, cache_leftovers, rehash, rewrite_metadata


def flip_a_byte(folder):
    path = folder / "model.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate_the_config(folder):
    path = folder / "config.json"
    path.write_bytes(path.read_bytes()[:100])


def delete_the_weights(folder):
    (folder / "model.weights.h5").unlink()


def edit_config(folder, edit):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    rehash(folder, "config.json")


def unregistered_class(config):
    config["registered_name"] = "keras_ssm>NoSuchModel"
    config["class_name"] = "NoSuchModel"


def foreign_top_level_class(config):
    config.update(module="keras.src.models.functional", class_name="Functional", registered_name="Functional")


def foreign_nested_class(config):
    config["config"]["backbone"]["config"]["layer_kwargs"]["kernel_init"] = {
        "module": "payload", "class_name": "Payload", "config": {}, "registered_name": "payload>Payload"
    }


def escaping_name(name):
    def damage(folder):
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata["files"][name] = metadata["files"]["README.md"]
        (folder / "metadata.json").write_text(json.dumps(metadata))

    return damage


def without_input_dtype(folder):
    metadata = json.loads((folder / "metadata.json").read_text())
    del metadata["input"]["dtype"]
    rewrite_metadata(folder, input=metadata["input"])


# (damage, a pattern the message must hold: the file or field at fault)
DAMAGES = {
    "flipped byte": (flip_a_byte, r"model\.weights\.h5.*damaged or incomplete"),
    "truncated file": (truncate_the_config, r"config\.json.*damaged or incomplete"),
    "missing file": (delete_the_weights, r"model\.weights\.h5"),
    "missing field": (lambda folder: rewrite_metadata(folder, evaluate=None), r"required field `evaluate` is missing"),
    "mistyped field": (lambda folder: rewrite_metadata(folder, labels="down,go,up"), r"field `labels` must be a list"),
    "missing input field": (without_input_dtype, r"`input\.dtype` is missing"),
    "files not a dict": (lambda folder: rewrite_metadata(folder, files=["config.json"]), r"field `files` must be a dict"),
    "bad digest": (
        lambda folder: rewrite_metadata(folder, files={"config.json": "abc", "model.weights.h5": "0" * 64}),
        r"files\['config\.json'\]",
    ),
    "unlisted weights": (
        lambda folder: rewrite_metadata(folder, files={"config.json": zoo.verify.sha256_file(folder / "config.json")}),
        r"must list 'model\.weights\.h5'",
    ),
    "unregistered class": (lambda folder: edit_config(folder, unregistered_class), r"'keras_ssm>NoSuchModel'.*not a keras_ssm model"),
    "foreign top-level class": (lambda folder: edit_config(folder, foreign_top_level_class), r"'Functional'.*not a keras_ssm model"),
    "foreign nested class": (lambda folder: edit_config(folder, foreign_nested_class), r"'payload>Payload'.*neither a Keras nor"),
    "parent-folder name": (escaping_name("../outside.txt"), r"'\.\./outside\.txt'.*outside the preset folder"),
    "absolute name": (escaping_name("/etc/passwd"), r"'/etc/passwd'.*outside the preset folder"),
    "backslash name": (escaping_name("..\\outside.txt"), r"outside the preset folder"),
    "nested parent name": (escaping_name("sub/../../outside.txt"), r"outside the preset folder"),
}


def source(kind, folder, serve):
    if kind == "folder":
        return folder
    if kind == "file":
        return folder.as_uri()
    return serve(folder.parent).url + "/" + folder.name


@pytest.mark.parametrize("kind", ["folder", "file", "http"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_refused_before_building(damage, kind, preset, serve, keras_ssm_home, no_build):
    damage_fn, pattern = DAMAGES[damage]
    damage_fn(preset)
    (preset.parent / "outside.txt").write_text("not part of the preset")
    name_or_path = source(kind, preset, serve)
    with pytest.raises(zoo.PresetError, match=pattern):
        zoo.load(name_or_path)
    # What to do about it is said too.
    with pytest.raises(zoo.PresetError, match=r"(?i)again|do not use|update keras-ssm"):
        zoo.load(name_or_path)
    if kind != "folder":
        assert cache_leftovers(keras_ssm_home) == []
    assert not (keras_ssm_home / "outside.txt").exists()


@pytest.mark.parametrize("kind", ["file", "http"])
def test_a_download_that_fails_part_way_leaves_nothing(kind, preset, serve, keras_ssm_home):
    # The config arrives and verifies, the weights do not.
    flip_a_byte(preset)
    with pytest.raises(zoo.PresetError, match="model.weights.h5"):
        zoo.preset_path(source(kind, preset, serve))
    assert cache_leftovers(keras_ssm_home) == []


def test_a_link_out_of_the_folder_is_refused(preset, tmp_path, no_build):
    outside = tmp_path / "secret.txt"
    outside.write_bytes((preset / "README.md").read_bytes())
    (preset / "README.md").unlink()
    os.symlink(outside, preset / "README.md")
    with pytest.raises(zoo.PresetError, match="'README.md'.*resolves outside the folder"):
        zoo.load(preset)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_that_do_not_fit_the_config(preset, saved, tmp_path):
    other = SSMClassifier(SSMBackbone("s4d", depth=1, width=16, input_dim=1, layer_kwargs={"state_dim": 4}), num_classes=3)
    other_folder = zoo.save_preset(other, tmp_path / "other", METADATA)
    (preset / "model.weights.h5").write_bytes((other_folder / "model.weights.h5").read_bytes())
    rehash(preset, "model.weights.h5")
    with pytest.raises(zoo.PresetError, match="model.weights.h5 do not fit the model of config.json"):
        zoo.load(preset)


def test_unknown_name_suggests_close_matches(bundled, no_build):
    with pytest.raises(zoo.PresetError, match=r"Unknown preset 'tiny-s4'.*Did you mean 'tiny-s4d'.*Bundled presets: b-other, tiny-s4d"):
        zoo.load("tiny-s4")
    with pytest.raises(zoo.PresetError, match="Bundled presets: b-other, tiny-s4d"):
        zoo.describe("completely-different")


def test_other_refusals(tmp_path, no_build):
    with pytest.raises(zoo.PresetError, match=r"s3:// is not supported"):
        zoo.load("s3://bucket/preset")
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.PresetError, match="holds no metadata.json"):
        zoo.load(tmp_path / "empty")
    with pytest.raises(TypeError, match="got int"):
        zoo.load(3)
    with pytest.raises(zoo.PresetError, match="HTTP 404|Could not download"):
        zoo.load((tmp_path / "absent").as_uri())
