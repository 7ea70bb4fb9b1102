"""Presets from file:// and http:// URLs: downloaded once into the cache, verified,
then reused with no network."""

import shutil

import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.zoo.download import cache_folder
from tests.zoo.conftest import METADATA, outputs


def test_file_url_is_cached(preset, saved, keras_ssm_home):
    url = preset.as_uri()
    np.testing.assert_allclose(outputs(zoo.load(url)), saved[1], atol=1e-6)
    folder = zoo.preset_path(url)
    assert folder == cache_folder(url)
    assert folder.parent == keras_ssm_home / "presets"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    # The source is gone: the cached copy is used.
    shutil.rmtree(preset)
    np.testing.assert_allclose(outputs(zoo.load(url)), saved[1], atol=1e-6)
    assert zoo.describe(url + "/metadata.json")["task"] == "audio-classification"
    # One folder per preset and no temporary leftovers.
    assert [p.name for p in (keras_ssm_home / "presets").iterdir()] == [folder.name]


def test_http_url_is_cached_and_reused_with_no_network(preset, saved, serve):
    server = serve(preset.parent)
    url = f"{server.url}/{preset.name}/"
    np.testing.assert_allclose(outputs(zoo.load(url)), saved[1], atol=1e-6)
    server.stop()
    np.testing.assert_allclose(outputs(zoo.load(url)), saved[1], atol=1e-6)
    assert type(zoo.from_preset(zoo.load(url).__class__, url)).__name__ == "SSMClassifier"


def test_a_damaged_cached_copy_is_downloaded_anew(preset, saved, serve):
    url = f"{serve(preset.parent).url}/{preset.name}"
    folder = zoo.preset_path(url)
    weights = folder / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-10])
    np.testing.assert_allclose(outputs(zoo.load(url)), saved[1], atol=1e-6)
    assert weights.read_bytes() == (preset / "model.weights.h5").read_bytes()


def test_a_damaged_cached_copy_with_no_network_is_refused(preset, serve, keras_ssm_home):
    server = serve(preset.parent)
    url = f"{server.url}/{preset.name}"
    folder = zoo.preset_path(url)
    server.stop()
    (folder / "config.json").unlink()
    with pytest.raises(zoo.PresetError, match="Could not download.*is damaged too: delete it"):
        zoo.load(url)
    # The damaged copy is left for the user to inspect or delete; no temporary folder is.
    assert sorted(p.name for p in (keras_ssm_home / "presets").iterdir()) == [folder.name]


def test_nested_files_are_downloaded(saved, tmp_path, serve):
    folder = tmp_path / "served" / "with-plots"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "loss.txt").write_text("0.5\n")
    zoo.save_preset(saved[2], folder, METADATA)
    assert "plots/loss.txt" in zoo.describe(folder)["files"]
    cached = zoo.preset_path(f"{serve(folder.parent).url}/with-plots")
    assert (cached / "plots" / "loss.txt").read_text() == "0.5\n"


def test_cache_folders_differ_by_url():
    names = {cache_folder(url).name for url in (
        "https://a.example/zoo/tiny", "https://b.example/zoo/tiny", "https://a.example/zoo/tiny/",
        "https://a.example/zoo/tiny/metadata.json",
    )}
    assert len(names) == 2
    assert all(name.startswith("tiny-") for name in names)
