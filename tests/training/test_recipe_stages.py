"""One recipe per preset (issue "A house a newcomer can enter"): a recipe's
`stages` are overrides deep-merged over the previous stage, each later stage
warm-started from the previous one's best.keras, trained by one command into
runs/NAME, runs/NAME_stage2, ...; finished stages are skipped, `--stage K`
trains one. The converted preset recipes merge to the stage files they
replaced, kept here as they were (examples/recipes/*_stage*.json before the
change)."""

import argparse
import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_ssm import cli, zoo
from keras_ssm.training import recipe as recipes
from keras_ssm.zoo.verify import sha256_file
from tests.training import tiny_listops

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The `--stop-after N` of a stage-1 command in the replaced chains (zoo/NAME/metadata.json
# training.command), now the recipe's own `stop_after_epochs`.
OLD_STOP_AFTER = {"lra_listops_s5": 4, "speech_commands12_s5": 98}

OLD_STAGE_FILES = {
    'lra_image_s5': [
        # examples/recipes/lra_image_s5.json
        {'name': 'lra_image_s5',
         'seed': 0,
         'epochs': 10,
         'data': {'task': 'image',
                  'path': '../../../shared/data/cifar10_jpeg',
                  'batch_size': 50,
                  'scale': 'cifar',
                  'validation_fraction': 0.1,
                  'split_seed': 0},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 32,
                                    'blocks': 4,
                                    'bidirectional': True,
                                    'c_init': 'lecun',
                                    'clip_eigs': True},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.1,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.0045,
                       'ssm_lr': 0.001,
                       'weight_decay': 0.07,
                       'warmup_epochs': 1,
                       'lr_min': 0.0,
                       'groups': 'BfastandCdecay'}},
        # examples/recipes/lra_image_s5_stage2.json
        {'name': 'lra_image_s5_stage2',
         'seed': 1,
         'epochs': 10,
         'data': {'task': 'image',
                  'path': '../../../shared/data/cifar10_jpeg',
                  'batch_size': 50,
                  'scale': 'cifar',
                  'validation_fraction': 0.1,
                  'split_seed': 0},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 32,
                                    'blocks': 4,
                                    'bidirectional': True,
                                    'c_init': 'lecun',
                                    'clip_eigs': True},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.1,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.003,
                       'ssm_lr': 0.001,
                       'weight_decay': 0.07,
                       'warmup_epochs': 1,
                       'lr_min': 0.0,
                       'groups': 'BfastandCdecay'},
         'warm_start': 'runs/lra_image_s5/best.keras'},
    ],
    'lra_listops_s5': [
        # examples/recipes/lra_listops_s5.json
        {'name': 'lra_listops_s5',
         'seed': 0,
         'epochs': 5,
         'data': {'task': 'listops', 'path': '../../runs/data/listops', 'batch_size': 50, 'max_length': 2048},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 16, 'blocks': 4, 'bidirectional': True, 'c_init': 'lecun'},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu2',
                   'dropout': 0.0,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.003,
                       'ssm_lr': 0.001,
                       'weight_decay': 0.04,
                       'warmup_epochs': 0.5,
                       'lr_min': 0.0,
                       'groups': 'BfastandCdecay'}},
        # examples/recipes/lra_listops_s5_stage2.json
        {'name': 'lra_listops_s5_stage2',
         'seed': 1,
         'epochs': 3,
         'data': {'task': 'listops', 'path': '../../runs/data/listops', 'batch_size': 50, 'max_length': 2048},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 16, 'blocks': 4, 'bidirectional': True, 'c_init': 'lecun'},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu2',
                   'dropout': 0.0,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.001,
                       'ssm_lr': 0.0005,
                       'weight_decay': 0.04,
                       'warmup_epochs': 0.2,
                       'lr_min': 0.0,
                       'groups': 'BfastandCdecay'},
         'warm_start': 'runs/lra_listops_s5/best.keras'},
        # examples/recipes/lra_listops_s5_stage3.json
        {'name': 'lra_listops_s5_stage3',
         'seed': 2,
         'epochs': 3,
         'data': {'task': 'listops', 'path': '../../runs/data/listops', 'batch_size': 50, 'max_length': 2048},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 16, 'blocks': 4, 'bidirectional': True, 'c_init': 'lecun'},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu2',
                   'dropout': 0.0,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.001,
                       'ssm_lr': 0.0005,
                       'weight_decay': 0.04,
                       'warmup_epochs': 0.2,
                       'lr_min': 0.0,
                       'groups': 'BfastandCdecay'},
         'warm_start': 'runs/lra_listops_s5_stage2/best.keras'},
    ],
    'lra_pathfinder32_s5': [
        # examples/recipes/lra_pathfinder32_s5.json
        {'name': 'lra_pathfinder32_s5',
         'seed': 0,
         'epochs': 3,
         'data': {'task': 'pathfinder32', 'path': '../../runs/data/pf32', 'batch_size': 64, 'scale': 'symmetric'},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 16,
                                    'blocks': 4,
                                    'bidirectional': True,
                                    'c_init': 'trunc_standard'},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.0,
                   'pooling': 'mean',
                   'norm_momentum': 0.9},
         'optimizer': {'lr': 0.0045,
                       'ssm_lr': 0.0009,
                       'weight_decay': 0.03,
                       'warmup_epochs': 0.25,
                       'lr_min': 0.0,
                       'groups': 'standard'}},
        # examples/recipes/lra_pathfinder32_s5_stage2.json
        {'name': 'lra_pathfinder32_s5_stage2',
         'seed': 1,
         'epochs': 3,
         'data': {'task': 'pathfinder32', 'path': '../../runs/data/pf32', 'batch_size': 64, 'scale': 'symmetric'},
         'model': {'layer': 's5',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 16,
                                    'blocks': 4,
                                    'bidirectional': True,
                                    'c_init': 'trunc_standard'},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.0,
                   'pooling': 'mean',
                   'norm_momentum': 0.9},
         'optimizer': {'lr': 0.0015,
                       'ssm_lr': 0.0005,
                       'weight_decay': 0.03,
                       'warmup_epochs': 0.2,
                       'lr_min': 0.0,
                       'groups': 'standard'},
         'warm_start': 'runs/lra_pathfinder32_s5/best.keras'},
    ],
    'lra_text_s4d': [
        # examples/recipes/lra_text_s4d.json
        {'name': 'lra_text_s4d',
         'seed': 0,
         'epochs': 12,
         'data': {'task': 'text',
                  'path': '../../../shared/data/imdb',
                  'batch_size': 32,
                  'max_length': 4096,
                  'validation_fraction': 0.1,
                  'split_seed': 0},
         'model': {'layer': 's4d',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 4},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.1,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.005,
                       'ssm_lr': 0.001,
                       'weight_decay': 0.05,
                       'warmup_epochs': 1,
                       'lr_min': 0.0,
                       'dt': 'global'}},
        # examples/recipes/lra_text_s4d_stage2.json
        {'name': 'lra_text_s4d_stage2',
         'seed': 1,
         'epochs': 12,
         'data': {'task': 'text',
                  'path': '../../../shared/data/imdb',
                  'batch_size': 32,
                  'max_length': 4096,
                  'validation_fraction': 0.1,
                  'split_seed': 0},
         'model': {'layer': 's4d',
                   'depth': 4,
                   'width': 64,
                   'layer_kwargs': {'state_dim': 4},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.1,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.003,
                       'ssm_lr': 0.001,
                       'weight_decay': 0.05,
                       'warmup_epochs': 1,
                       'lr_min': 0.0,
                       'dt': 'global'},
         'warm_start': 'runs/lra_text_s4d/best.keras'},
    ],
    'speech_commands12_s4d': [
        # examples/recipes/speech_commands12_s4d.json
        {'name': 'speech_commands12_s4d',
         'seed': 0,
         'epochs': 150,
         'data': {'task': 'sc12',
                  'path': '../../../shared/data/speech_commands_v0.02_test',
                  'batch_size': 32,
                  'validation_folds': [7],
                  'test_folds': [8],
                  'time_shift': 0.1,
                  'gain_db': 6.0,
                  'speed_change': 0.1,
                  'noise_probability': 0.8,
                  'noise_volume': 0.1,
                  'band_limit_rate': 8000,
                  'band_limit_probability': 0.5},
         'model': {'layer': 's4d',
                   'depth': 6,
                   'width': 128,
                   'layer_kwargs': {'state_dim': 64},
                   'frontend': {'sample_rate': 16000,
                                'frame_seconds': 0.025,
                                'hop_seconds': 0.01,
                                'num_mel_bins': 40},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.15,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.002, 'ssm_lr': 0.001, 'weight_decay': 0.05, 'warmup_epochs': 3, 'lr_min': 0.0}},
        # examples/recipes/speech_commands12_s4d_stage2.json
        {'name': 'speech_commands12_s4d_stage2',
         'seed': 2,
         'epochs': 40,
         'data': {'task': 'sc12',
                  'path': '../../../shared/data/speech_commands_v0.02_test',
                  'batch_size': 32,
                  'validation_folds': [7],
                  'test_folds': [8],
                  'time_shift': 0.25,
                  'gain_db': 6.0,
                  'speed_change': 0.1,
                  'noise_probability': 0.8,
                  'noise_volume': 0.1,
                  'band_limit_rate': 8000,
                  'band_limit_probability': 0.5},
         'model': {'layer': 's4d',
                   'depth': 6,
                   'width': 128,
                   'layer_kwargs': {'state_dim': 64},
                   'frontend': {'sample_rate': 16000,
                                'frame_seconds': 0.025,
                                'hop_seconds': 0.01,
                                'num_mel_bins': 40},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.15,
                   'pooling': 'mean',
                   'spec_augment': {'freq_masks': 1, 'freq_width': 6, 'time_masks': 1, 'time_width': 8}},
         'optimizer': {'lr': 0.001, 'ssm_lr': 0.0005, 'weight_decay': 0.05, 'warmup_epochs': 1, 'lr_min': 0.0},
         'warm_start': 'runs/speech_commands12_s4d/best.keras'},
    ],
    'speech_commands12_s5': [
        # examples/recipes/speech_commands12_s5.json
        {'name': 'speech_commands12_s5',
         'seed': 0,
         'epochs': 150,
         'data': {'task': 'sc12',
                  'path': '../../../shared/data/speech_commands_v0.02_test',
                  'batch_size': 32,
                  'validation_folds': [7],
                  'test_folds': [8],
                  'time_shift': 0.1,
                  'gain_db': 6.0,
                  'speed_change': 0.1,
                  'noise_probability': 0.8,
                  'noise_volume': 0.1,
                  'band_limit_rate': 8000,
                  'band_limit_probability': 0.5},
         'model': {'layer': 's5',
                   'depth': 6,
                   'width': 128,
                   'layer_kwargs': {'state_dim': 64, 'blocks': 8},
                   'frontend': {'sample_rate': 16000,
                                'frame_seconds': 0.025,
                                'hop_seconds': 0.01,
                                'num_mel_bins': 40},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.15,
                   'pooling': 'mean'},
         'optimizer': {'lr': 0.002, 'ssm_lr': 0.001, 'weight_decay': 0.05, 'warmup_epochs': 3, 'lr_min': 0.0}},
        # examples/recipes/speech_commands12_s5_stage2.json
        {'name': 'speech_commands12_s5_stage2',
         'seed': 1,
         'epochs': 50,
         'data': {'task': 'sc12',
                  'path': '../../../shared/data/speech_commands_v0.02_test',
                  'batch_size': 32,
                  'validation_folds': [7],
                  'test_folds': [8],
                  'time_shift': 0.25,
                  'gain_db': 6.0,
                  'speed_change': 0.1,
                  'noise_probability': 0.8,
                  'noise_volume': 0.1,
                  'band_limit_rate': 8000,
                  'band_limit_probability': 0.5},
         'model': {'layer': 's5',
                   'depth': 6,
                   'width': 128,
                   'layer_kwargs': {'state_dim': 64, 'blocks': 8},
                   'frontend': {'sample_rate': 16000,
                                'frame_seconds': 0.025,
                                'hop_seconds': 0.01,
                                'num_mel_bins': 40},
                   'norm': 'batch',
                   'prenorm': True,
                   'activation': 'half_glu1',
                   'dropout': 0.15,
                   'pooling': 'mean',
                   'spec_augment': {'freq_masks': 1, 'freq_width': 6, 'time_masks': 1, 'time_width': 8}},
         'optimizer': {'lr': 0.001, 'ssm_lr': 0.0005, 'weight_decay': 0.05, 'warmup_epochs': 1, 'lr_min': 0.0},
         'warm_start': 'runs/speech_commands12_s5/best.keras'},
    ],
}


@pytest.mark.parametrize("name", sorted(OLD_STAGE_FILES))
def test_a_converted_recipe_merges_to_the_stage_files_it_replaced(name, tmp_path):
    with open(os.path.join(ROOT, "examples", "recipes", f"{name}.json"), encoding="utf-8") as f:
        recipe = json.load(f)
    plan = recipes.stage_recipes(recipe, f"runs/{name}")
    old = OLD_STAGE_FILES[name]
    stop = {"stop_after_epochs": OLD_STOP_AFTER[name]} if name in OLD_STOP_AFTER else {}
    # Names and warm_start paths included: runs/NAME_stage<k>, from runs/NAME[_stage<k-1>]/best.keras.
    assert [spec for _, spec in plan] == [{**old[0], **stop}, *old[1:]]
    later = [f"runs/{name}_stage{k}" for k in range(2, len(old) + 1)]
    assert [folder for folder, _ in plan] == [f"runs/{name}", *later]
    # Every merged stage is a valid recipe (the data folder aside: tests never read ../shared).
    parsed = recipes.parse_recipe({**recipe, "data": {**recipe["data"], "path": str(tmp_path)}})
    assert len(parsed["stages"]) == len(old) - 1


@pytest.mark.parametrize("name", sorted(OLD_STAGE_FILES))
def test_a_preset_records_the_one_command_that_replays_its_stages(name):
    training = zoo.describe(name)["training"]
    command = f"python -m keras_ssm train examples/recipes/{name}.json --out runs/{name}"
    with open(os.path.join(ROOT, "examples", "recipes", f"{name}.json"), encoding="utf-8") as f:
        plan = recipes.stage_recipes(json.load(f), f"runs/{name}")
    if len(training["stages"]) == len(plan):
        assert training["command"] == command
    else:  # the recipe plans stages after the preset's: the command trains the preset's stages alone
        assert training["command"] == " && ".join(f"{command} --stage {k}" for k in range(1, len(training["stages"]) + 1))
    for k, stage in enumerate(training["stages"], 1):
        assert (stage["recipe"], stage["stage"]) == (f"examples/recipes/{name}.json", k)
        # A stage that stopped early stops there again: its recipe's own stop_after_epochs.
        assert plan[k - 1][1].get("stop_after_epochs") == (stage["epochs"] if "stopped_after" in stage else None)


@pytest.fixture(scope="module")
def listops_dir(tmp_path_factory):
    return tiny_listops.write_listops(tmp_path_factory, 48, max_length=80)


def staged_recipe(data_dir, **overrides):
    """A tiny recipe of 2 epochs and a 1-epoch stage 2 at a lower rate and another dropout."""
    return tiny_listops.tiny_recipe(
        data_dir, "s4d", extra_data={"batch_size": 16},
        stages=[{"seed": 1, "epochs": 1, "optimizer": {"lr": 1e-3}, "model": {"dropout": 0.1}}], **overrides
    )


def test_stages_deep_merge_over_the_previous_stage(listops_dir):
    recipe = staged_recipe(listops_dir, stop_after_epochs=1, name="tiny")
    recipe["model"]["layer_kwargs"] = {"state_dim": 8, "init": "lin"}
    recipe["stages"].append({"model": {"layer_kwargs": {"state_dim": 4}}, "stop_after_epochs": 1})
    plan = recipes.stage_recipes(recipes.parse_recipe(recipe), "runs/tiny")
    (_, first), (_, second), (folder, third) = plan
    assert "stages" not in first and first["stop_after_epochs"] == 1
    # Dicts merge key by key, other values are replaced; the rest is the previous stage's.
    assert second["optimizer"] == {**first["optimizer"], "lr": 1e-3}
    assert second["model"] == {**first["model"], "dropout": 0.1}
    assert (second["seed"], second["epochs"], second["data"]) == (1, 1, first["data"])
    # The fields of one stage: its own stop_after_epochs, name and (implied) warm start.
    assert "stop_after_epochs" not in second and second["name"] == "tiny_stage2"
    assert second["warm_start"] == os.path.join("runs", "tiny", "best.keras")
    assert third["model"]["layer_kwargs"] == {"state_dim": 4, "init": "lin"} and third["model"]["dropout"] == 0.1
    assert (folder, third["warm_start"], third["stop_after_epochs"]) == (
        "runs/tiny_stage3", os.path.join("runs", "tiny_stage2", "best.keras"), 1)


@pytest.mark.parametrize(
    "stages, message",
    [
        ([{"warm_start": "runs/x/best.keras"}], "Unknown recipe field `stages\\[0\\].warm_start`: stage 2 may set"),
        ([{}, {"lr": 0.1}], "Unknown recipe field `stages\\[1\\].lr`: stage 3 may set"),
        ([{"epochs": "3"}], "Recipe field `stages\\[0\\].epochs` must be int"),
        ([{"model": {"colour": 1}}],
         "Stage 2 \\(`stages\\[0\\]` merged over stage 1\\): Unknown recipe field `model.colour`"),
        ([{"stop_after_epochs": 2}], "Stage 2 .*`stop_after_epochs` must be between 1 and `epochs` \\(1\\)"),
        ([{"warm_start_sha256": "abc"}], "`warm_start_sha256` must be 64 hex digits"),
        ([3], "Recipe field `stages\\[0\\]` must be an object"),
        ({"epochs": 3}, "Recipe field `stages` must be a list"),
    ],
)
def test_a_bad_stage_names_its_field(listops_dir, stages, message):
    with pytest.raises(ValueError, match=message):
        recipes.parse_recipe(tiny_listops.tiny_recipe(listops_dir, "s4d", epochs=1, stages=stages))


def test_a_stage_data_path_is_read_relative_to_the_recipe_file(listops_dir, tmp_path):
    shutil.copytree(listops_dir, tmp_path / "other")
    path = tmp_path / "recipes" / "tiny.json"
    path.parent.mkdir()
    path.write_text(json.dumps(tiny_listops.tiny_recipe(listops_dir, "s4d", stages=[{"data": {"path": "../other"}}])))
    (_, second), = recipes.stage_recipes(recipes.parse_recipe(str(path)), "runs/tiny")[1:]
    assert os.path.samefile(second["data"]["path"], tmp_path / "other")


class Starts(keras.callbacks.Callback):
    """How many runs began, and the weights the last one began with (after any warm start)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_begin(self, logs=None):
        self.count += 1
        self.weights = [keras.ops.convert_to_numpy(w) for w in self.model.weights]


@pytest.fixture(scope="module")
def chain(listops_dir, tmp_path_factory):
    """A 2-stage recipe file trained by `train_stages` into runs/tiny and runs/tiny_stage2."""
    root = tmp_path_factory.mktemp("chain")
    path = root / "tiny.json"
    path.write_text(json.dumps(staged_recipe(listops_dir)))
    starts = Starts()
    trained = recipes.train_stages(str(path), str(root / "runs" / "tiny"), verbose=0, callbacks=[starts])
    return root, path, trained, starts


def test_one_call_trains_every_stage_each_from_the_previous_best(chain):
    root, _, trained, starts = chain
    first, second = root / "runs" / "tiny", root / "runs" / "tiny_stage2"
    assert [folder for folder, _ in trained] == [str(first), str(second)] and starts.count == 2
    for folder in (first, second):
        assert {"recipe.json", "summary.json", "metrics.csv", "best.keras"} <= set(os.listdir(folder))
    summary = json.loads((second / "summary.json").read_text())
    assert summary == trained[1][1] and summary["epochs"] == 1
    assert summary["warm_start_file"] == str(first / "best.keras")
    assert summary["warm_start_sha256"] == sha256_file(first / "best.keras")
    best = keras.saving.load_model(str(first / "best.keras"), safe_mode=True)
    for got, want in zip(starts.weights, best.weights):  # stage 2 began from stage 1's best weights
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))
    ran = json.loads((second / "recipe.json").read_text())
    assert (ran["name"], ran["warm_start"], ran["seed"], ran["optimizer"]["lr"]) == (
        "tiny_stage2", str(first / "best.keras"), 1, 1e-3)
    assert "stages" not in ran and "stages" not in json.loads((first / "recipe.json").read_text())


def test_a_rerun_skips_the_finished_stages(chain):
    root, path, trained, _ = chain
    stamps = [os.stat(os.path.join(folder, "summary.json")).st_mtime_ns for folder, _ in trained]
    starts = Starts()
    again = recipes.train_stages(str(path), str(root / "runs" / "tiny"), verbose=0, callbacks=[starts])
    assert starts.count == 0 and again == trained
    assert [os.stat(os.path.join(folder, "summary.json")).st_mtime_ns for folder, _ in trained] == stamps


def test_cli_stage_trains_that_stage_only(chain, capsys):
    root, path, _, _ = chain
    only = root / "runs" / "only"
    args = ["train", str(path), "--out", str(only), "--stage", "2", "--verbose", "0"]
    with pytest.raises(SystemExit) as exit_:  # stage 1's best.keras is not there yet
        cli.main(args)
    assert exit_.value.code == 2 and "train stage 1 first (`--stage 1`" in capsys.readouterr().err
    only.mkdir()
    shutil.copy(root / "runs" / "tiny" / "best.keras", only / "best.keras")  # stage 1's model, no run of it
    assert cli.main(args) == 0
    assert "only_stage2" in capsys.readouterr().out
    summary = json.loads((root / "runs" / "only_stage2" / "summary.json").read_text())
    assert summary["warm_start_sha256"] == sha256_file(only / "best.keras")
    assert os.listdir(only) == ["best.keras"]  # stage 1 was not trained


def test_cli_stop_after_applies_to_stage_1(listops_dir, tmp_path, capsys):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(staged_recipe(listops_dir)))
    args = argparse.Namespace(recipe=str(path), distribution=None, mesh=None, stop_after=1)
    (_, first), (_, second) = recipes.stage_recipes(cli._recipe_with_overrides(args), "runs/tiny")
    assert (first["stop_after_epochs"], second.get("stop_after_epochs")) == (1, None)
    with pytest.raises(SystemExit):
        cli.main(["train", str(path), "--out", str(tmp_path / "run"), "--stage", "2", "--stop-after", "1"])
    assert "--stop-after applies to stage 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", str(path), "--out", str(tmp_path / "run"), "--stage", "3"])
    assert "`stage` (--stage) must be between 1 and 2" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
