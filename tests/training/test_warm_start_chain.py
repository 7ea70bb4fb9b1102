"""Warm starts that replay (issue #28.3): a run warm-starts from an earlier
run's output, named relative to the folder the commands run in (as a recipe's
later `stages` do, implied: tests/training/test_recipe_stages.py); the run
records the sha256 of the file it started from, a recipe or a stage can pin
it, and a stage stopped early is replayed as far as it ran, on its full
schedule."""

import argparse
import json
import os

import keras
import numpy as np
import pytest

from keras_ssm import cli
from keras_ssm.training import recipe as recipes
from keras_ssm.zoo.verify import sha256_file
from tests.training import tiny_listops


@pytest.fixture(scope="module")
def listops_dir(tmp_path_factory):
    return tiny_listops.write_listops(tmp_path_factory, 48, max_length=80)


def tiny_recipe(data_dir, **overrides):
    return tiny_listops.tiny_recipe(data_dir, "s4d", extra_data={"batch_size": 16}, **overrides)


class FirstWeights(keras.callbacks.Callback):
    """The model's weights when training begins (after any warm start)."""

    def on_train_begin(self, logs=None):
        self.weights = [keras.ops.convert_to_numpy(w) for w in self.model.weights]


class LearningRates(keras.callbacks.Callback):
    """The learning rate of the non-SSM parameters after each epoch."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


@pytest.fixture(scope="module")
def stage1(listops_dir, tmp_path_factory):
    """A root folder (where the chain's commands run) holding stage 1's run in runs/stage1."""
    root = tmp_path_factory.mktemp("chain")
    recipes.train(tiny_recipe(listops_dir, epochs=1), str(root / "runs" / "stage1"), verbose=0)
    return root


def write_stage2(root, listops_dir, **extra):
    """Stage 2's recipe file, in a folder of its own, naming stage 1's output as the chain's commands do."""
    (root / "recipes").mkdir(exist_ok=True)
    path = root / "recipes" / "stage2.json"
    path.write_text(json.dumps(tiny_recipe(listops_dir, epochs=1, name="stage2",
                                           warm_start="runs/stage1/best.keras", **extra)))
    return str(path)


def test_stage2_starts_from_stage1_output_and_records_its_sha256(stage1, listops_dir, monkeypatch):
    monkeypatch.chdir(stage1)  # the repository root of `python -m keras_ssm train ... --out runs/...`
    path = write_stage2(stage1, listops_dir)
    started = FirstWeights()
    summary = recipes.train(path, "runs/stage2", verbose=0, callbacks=[started])
    best1 = stage1 / "runs" / "stage1" / "best.keras"
    assert summary["warm_start_file"] == str(best1)  # relative to the current directory, not the recipe's
    assert summary["warm_start_sha256"] == sha256_file(best1)
    with open(stage1 / "runs" / "stage2" / "summary.json", encoding="utf-8") as f:
        assert json.load(f)["warm_start_sha256"] == sha256_file(best1)  # what the publishers read
    before = keras.saving.load_model(str(best1), safe_mode=True)
    for got, want in zip(started.weights, before.weights):
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


def test_a_pinned_sha256_is_checked_before_training(stage1, listops_dir, monkeypatch):
    monkeypatch.chdir(stage1)
    digest = sha256_file(stage1 / "runs" / "stage1" / "best.keras")
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"`warm_start_sha256` is {wrong}.* has sha256 {digest}"):
        recipes.train(write_stage2(stage1, listops_dir, warm_start_sha256=wrong), "runs/refused", verbose=0)
    assert not (stage1 / "runs" / "refused").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="`warm_start_sha256` pins the weights of a `warm_start`"):
        recipes.parse_recipe(tiny_recipe(listops_dir, warm_start_sha256=digest))
    # The right hash (any case) trains.
    summary = recipes.train(write_stage2(stage1, listops_dir, warm_start_sha256=digest.upper()), "runs/pinned",
                            verbose=0)
    assert summary["warm_start_sha256"] == digest


def test_a_stage_pins_its_implied_warm_start(stage1, listops_dir, monkeypatch):
    monkeypatch.chdir(stage1)
    recipe = tiny_recipe(listops_dir, epochs=1, stages=[{"warm_start_sha256": "0" * 64}])
    digest = sha256_file(stage1 / "runs" / "stage1" / "best.keras")
    # Stage 1 is finished (its summary.json exists): skipped; stage 2 is refused before it writes anything.
    with pytest.raises(ValueError, match=f"`warm_start_sha256` is {64 * '0'}.* has sha256 {digest}"):
        recipes.train_stages(recipe, "runs/stage1", verbose=0)
    assert not (stage1 / "runs" / "stage1_stage2").exists()


def test_stop_after_ends_the_run_on_the_full_schedule(listops_dir, tmp_path):
    full, stopped = LearningRates(), LearningRates()
    recipes.train(tiny_recipe(listops_dir, epochs=3), str(tmp_path / "full"), verbose=0, callbacks=[full])
    summary = recipes.train(tiny_recipe(listops_dir, epochs=3, stop_after_epochs=2), str(tmp_path / "stopped"),
                            verbose=0, callbacks=[stopped])
    assert (summary["epochs"], summary["planned_epochs"], summary["stopped_after"]) == (2, 3, 2)
    assert len((tmp_path / "stopped" / "metrics.csv").read_text().splitlines()) == 1 + 2
    # The 3-epoch cosine, cut after 2 epochs: not a 2-epoch schedule, which would end at lr_min (0).
    np.testing.assert_allclose(stopped.rates, full.rates[:2], rtol=1e-6)
    assert stopped.rates[-1] > 0.1 * tiny_recipe(listops_dir)["optimizer"]["lr"]
    with pytest.raises(ValueError, match="`stop_after_epochs` must be between 1 and `epochs` \\(3\\)"):
        recipes.parse_recipe(tiny_recipe(listops_dir, epochs=3, stop_after_epochs=4))


def test_cli_stop_after_sets_the_recipe_field(listops_dir, tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_recipe(listops_dir, epochs=30)))
    args = argparse.Namespace(recipe=str(path), distribution=None, mesh=None, stop_after=26)
    assert cli._recipe_with_overrides(args)["stop_after_epochs"] == 26
    args.stop_after = None
    assert cli._recipe_with_overrides(args) == str(path)  # no override: the file as it is
