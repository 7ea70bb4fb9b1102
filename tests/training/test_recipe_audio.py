"""Recipes with audio models: pooling, warm starts, zero-shot evaluation at another rate."""

import json
import os

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models.rate import retarget
from keras_ssm.training import recipe
from tests.fsdd_fixture import write_fsdd


def audio_recipe(data_dir, **extra):
    return {
        "name": "tiny-fsdd",
        "epochs": 1,
        "data": {"task": "fsdd", "path": data_dir, "batch_size": 4, "return_mask": True},
        "model": {"layer": "s5", "depth": 2, "width": 8, "layer_kwargs": {"state_dim": 4}, "pool": [4, 1]},
        **extra,
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fsdd")
    data_dir = write_fsdd(str(folder / "data"))
    out = str(folder / "run")
    summary = recipe.train(audio_recipe(data_dir), out, verbose=0)
    return data_dir, out, summary


def test_pooled_audio_recipe_trains_and_round_trips(trained):
    data_dir, out, summary = trained
    assert summary["epochs"] == 1 and 0 <= summary["best_val_accuracy"] <= 1 and "test_accuracy" not in summary
    with open(os.path.join(out, "recipe.json"), encoding="utf-8") as f:
        written = json.load(f)
    assert written["model"]["pool"] == [4, 1]
    recipe.parse_recipe(written)  # nulls (warm_start, distribution) parse as absent
    model = keras.saving.load_model(os.path.join(out, "best.keras"), safe_mode=True)
    assert model.backbone.pool == [4, 1]


@pytest.mark.parametrize("source", ["keras_file", "preset_folder"])
def test_warm_start_begins_from_the_earlier_weights(trained, tmp_path, source):
    data_dir, out, _ = trained
    best = os.path.join(out, "best.keras")
    before = keras.saving.load_model(best, safe_mode=True)
    warm = best
    if source == "preset_folder":  # a published preset: what a new machine has of a finished run
        warm = str(zoo.save_preset(before, str(tmp_path / "preset"), {
            "task": "audio-classification", "labels": [str(i) for i in range(10)],
            "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
            "metrics": {}, "evaluate": "none: a test preset"}))
    spec = audio_recipe(data_dir, warm_start=warm, optimizer={"lr": 1e-9, "ssm_lr": 1e-9})
    summary = recipe.train(spec, str(tmp_path / "second"), verbose=0)
    assert summary["epochs"] == 1
    after = keras.saving.load_model(str(tmp_path / "second" / "best.keras"), safe_mode=True)
    # A learning rate of 1e-9 leaves the trained weights where the warm start
    # put them (BatchNorm's moving statistics still move) ...
    for a, b in zip(after.trainable_weights, before.trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)
    # ... and far from a fresh initialisation.
    parsed = recipe.parse_recipe(audio_recipe(data_dir))
    fresh = recipe.build_model(parsed, recipe.load_data(parsed))
    assert any(
        np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max() > 1e-3
        for a, b in zip(fresh.trainable_weights, before.trainable_weights)
    )
    with pytest.raises(ValueError, match="warm_start"):
        recipe.parse_recipe(audio_recipe(data_dir, warm_start=str(tmp_path / "missing.keras")))
    with pytest.raises(ValueError, match="neither a `.keras` file .* nor a zoo preset"):
        recipe.parse_recipe(audio_recipe(data_dir, warm_start=str(tmp_path)))  # a folder, no metadata.json


def test_warm_start_names_a_bundled_preset(tmp_path):
    data_dir = write_fsdd(str(tmp_path / "data"))
    parsed = recipe.parse_recipe(audio_recipe(data_dir, warm_start="fsdd_s5"))
    assert parsed["warm_start"] == "fsdd_s5"
    with pytest.raises(ValueError, match="fsdd_s55"):
        recipe.parse_recipe(audio_recipe(data_dir, warm_start="fsdd_s55"))


def test_evaluate_at_another_rate_runs_the_retargeted_model(trained):
    data_dir, out, _ = trained
    spec = audio_recipe(data_dir)
    result = recipe.evaluate(spec, os.path.join(out, "best.keras"), verbose=0, sample_rate=4000)
    from keras_ssm import data as data_lib

    data = data_lib.load("fsdd", data_dir, batch_size=4, return_mask=True, sample_rate=4000)
    model = retarget(keras.saving.load_model(os.path.join(out, "best.keras"), safe_mode=True), 2.0)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    loss, accuracy = model.evaluate(data.validation, verbose=0)  # evaluate's default split
    assert result["sample_rate"] == 4000
    np.testing.assert_allclose([result["loss"], result["accuracy"]], [loss, accuracy], rtol=1e-5)
    with pytest.raises(ValueError, match="sample_rate"):
        recipe.evaluate(spec, os.path.join(out, "best.keras"), verbose=0, sample_rate=-5)
    # A band limit at the new rate's own Nyquist limit augments training only:
    # evaluation there runs, and gives the same figures.
    spec["data"].update(band_limit_rate=4000, band_limit_probability=0.5)
    limited = recipe.evaluate(spec, os.path.join(out, "best.keras"), verbose=0, sample_rate=4000)
    np.testing.assert_allclose([limited["loss"], limited["accuracy"]], [loss, accuracy], rtol=1e-5)


def test_block_settings_and_band_limit_reach_the_model_and_data(tmp_path):
    data_dir = write_fsdd(str(tmp_path / "data"))
    spec = audio_recipe(data_dir)
    spec["model"].update(norm_momentum=0.9, norm_epsilon=1e-5, gelu_approximate=False)
    spec["data"].update(band_limit_rate=4000, band_limit_probability=0.5)
    spec["optimizer"] = {"groups": "BfastandCdecay", "dt": "global_decay"}
    parsed = recipe.parse_recipe(spec)
    data = recipe.load_data(parsed)
    assert "band-limited to 4000 Hz" in data.info["preprocessing"]
    model = recipe.build_model(parsed, data)
    for block in model.backbone.blocks:
        assert (block.norm.momentum, block.norm.epsilon, block.gelu_approximate) == (0.9, 1e-5, False)
    assert model.backbone.get_config()["norm_epsilon"] == 1e-5
    recipe.compile_model(model, parsed, steps_per_epoch=4)
    assert (model.optimizer.groups, model.optimizer.dt) == ("BfastandCdecay", "global_decay")
    with pytest.raises(ValueError, match="optimizer.groups"):
        recipe.parse_recipe(audio_recipe(data_dir, optimizer={"groups": "Bdecay"}))
    with pytest.raises(ValueError, match="model.gelu_approximate"):
        recipe.parse_recipe(audio_recipe(data_dir, model={"layer": "s5", "gelu_approximate": "tanh"}))
