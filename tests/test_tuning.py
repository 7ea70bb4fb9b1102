import json

import keras_tuner
import numpy as np
import pytest

from keras_ssm.layers.block import sequence_layer
from keras_ssm.models import SSMRetrievalClassifier
from keras_ssm.tuning import SSMHyperModel, best_recipe, recipe_space, trial_recipe, tune_recipe
from tests.layer_test_case import numpy


def task(n=48, length=24):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, length, 1)).astype("float32")
    return x, (x[:, 0, 0] > 0).astype("int32")


def test_random_search_and_hyperband_find_a_model_that_reloads(tmp_path):
    x, y = task()
    fixed = dict(depth=1, width=[8, 16], state_dim=16, layer=["s4d", "s5"], norm="layer")
    hypermodel = SSMHyperModel(2, input_shape=(None, 1), **fixed)
    data = dict(x=x[:32], y=y[:32], validation_data=(x[32:], y[32:]), batch_size=16, verbose=0)
    search = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=2, directory=str(tmp_path), project_name="random", seed=0
    )
    search.search(epochs=1, **data)
    hyperband = keras_tuner.Hyperband(
        hypermodel, objective="val_accuracy", max_epochs=2, directory=str(tmp_path), project_name="hyperband", seed=1
    )
    hyperband.search(**data)
    for tuner in (search, hyperband):
        best = tuner.get_best_models(1)[0]
        assert numpy(best(x[:3])).shape == (3, 2)
        for trial in tuner.oracle.trials.values():
            values = trial.hyperparameters.values
            assert values["depth"] == 1 and values["state_dim"] == 16 and values["norm"] == "layer"
            assert values["width"] in (8, 16) and values["layer"] in ("s4d", "s5")


def test_family_hyperparameters_and_ranges():
    hp = keras_tuner.HyperParameters()
    model = SSMHyperModel(3, vocab_size=12, layer="s5", blocks=4, depth=2, width=16, lr=(1e-3, 2e-3)).build(hp)
    assert hp.values["s5_blocks"] == 4 and 1e-3 <= hp.values["lr"] <= 2e-3
    assert "s4d_init" not in hp.values
    block = model.backbone.blocks[0]
    assert block.layer.blocks == 4 and len(model.backbone.blocks) == 2
    assert numpy(model(np.array([[1, 2, 3, 0]]))).shape == (1, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="state_size"):
        SSMHyperModel(2, input_shape=(None, 1), state_size=4)
    with pytest.raises(ValueError, match="input_shape"):
        SSMHyperModel(2)


@pytest.mark.parametrize(
    "fixed, key, used",
    [
        (dict(layer="dss", variant="softmax", discretization="bilinear"), "discretization", "zoh"),
        (dict(layer="s5", state_dim=24, blocks=8), "blocks", 1),  # 3 states per block: no conjugate pairs
    ],
)
def test_best_recipe_records_the_values_the_model_used(fixed, key, used):
    hp = keras_tuner.HyperParameters()
    fixed = {"depth": 1, "width": 8, "state_dim": 16, "norm": "layer", **fixed}
    model = SSMHyperModel(2, input_shape=(None, 1), **fixed).build(hp)
    assert getattr(model.backbone.blocks[0].layer, key) == used
    recipe = {"name": "t", "epochs": 1, "data": {}, "model": {"layer": "s4d", "layer_kwargs": {}}, "optimizer": {}}
    best = best_recipe(recipe, hp.values)
    layer_kwargs = best["model"]["layer_kwargs"]
    assert layer_kwargs[key] == used
    layer = sequence_layer(best["model"]["layer"], **layer_kwargs)  # the recipe builds
    assert getattr(layer, key) == used


def test_a_drawn_family_keeps_the_layer_arguments_it_takes():
    kwargs = {"state_dim": 8, "init": "lin", "real_transform": "relu", "kernel_dropout": 0.1}
    recipe = {"epochs": 1, "model": {"layer": "s4d", "layer_kwargs": kwargs}, "optimizer": {}}
    # S4D's own arguments do not carry over; another family's draw applies to that family only.
    dss = trial_recipe(recipe, {"layer": "dss", "dss_variant": "exp", "s4d_init": "inv"})
    assert dss["model"]["layer_kwargs"] == {"state_dim": 8, "kernel_dropout": 0.1, "variant": "exp"}
    assert trial_recipe(recipe, {"layer": "s5"})["model"]["layer_kwargs"] == {"state_dim": 8}
    assert trial_recipe(recipe, {"s4d_init": "inv", "dss_variant": "exp"})["model"]["layer_kwargs"] == {
        **kwargs, "init": "inv"}
    assert recipe["model"]["layer_kwargs"] == kwargs  # written into a copy
    with pytest.raises(ValueError, match=r"tune\.blocks.*\['s5'\]"):
        recipe_space({"model": {"layer": "s4d"}, "tune": {"blocks": [1, 2]}})


def test_retrieval_task_builds_a_pair_classifier():
    hypermodel = SSMHyperModel(2, vocab_size=12, task="retrieval", layer="s4d", depth=1, width=8, state_dim=8)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert isinstance(model, SSMRetrievalClassifier)
    docs = np.array([[1, 2, 3, 0]]), np.array([[4, 5, 0, 0]])
    assert numpy(model(docs)).shape == (1, 2)


def test_tune_recipe_on_the_retrieval_task(tmp_path):
    # The LRA layout: label (as a float), id1, id2, text1, text2.
    rows = [(i % 2, "ab" * (i + 1), "cd" * (3 - i % 3)) for i in range(8)]
    for split in ("train", "eval", "test"):
        with open(tmp_path / f"new_aan_pairs.{split}.tsv", "w") as f:
            for i, (label, a, b) in enumerate(rows):
                f.write(f"{float(label)}\tacl-{i}a\tacl-{i}b\t{a}\t{b}\n")
    recipe = {
        "name": "tiny-retrieval",
        "epochs": 1,
        "data": {"task": "retrieval", "path": str(tmp_path), "batch_size": 4, "max_length": 16},
        "model": {"layer": "s4d", "depth": 1, "width": 8, "layer_kwargs": {"state_dim": 8}, "norm": "layer"},
        "tune": {"lr": [1e-3, 2e-3]},
    }
    best = tune_recipe(recipe, str(tmp_path / "best.json"), max_trials=1, verbose=0)
    assert best["model"]["layer"] == "s4d" and best["optimizer"]["lr"] in (1e-3, 2e-3)
    # keras-tuner logs a failed trial and goes on: check that it ran.
    trials = list((tmp_path / "best_trials").glob("*/trial_*/trial.json"))
    assert trials and all(json.loads(t.read_text())["status"] == "COMPLETED" for t in trials)


def speech_recipe(data_dir):
    """A raw-audio recipe with a log-mel front end, SpecAugment, non-default
    block settings and optimizer groups, and a search over one field of each
    section."""
    return {
        "name": "tiny-speech",
        "seed": 0,
        "epochs": 2,
        "data": {"task": "fsdd", "path": data_dir, "batch_size": 4, "return_mask": True},
        "model": {
            "layer": "s4d",
            "depth": 1,
            "width": 8,
            "layer_kwargs": {"state_dim": 4, "init": "lin", "kernel_dropout": 0.1, "dt_max": 0.08},
            "frontend": {"sample_rate": 8000, "num_mel_bins": 8, "upper_edge_hertz": 4000.0},
            "spec_augment": {"freq_masks": 1, "freq_width": 2, "time_masks": 1, "time_width": 2},
            "norm": "layer",
            "prenorm": False,
            "activation": "gelu",
            "gelu_approximate": False,
            "norm_momentum": 0.9,
            "norm_epsilon": 1e-5,
            "pool": [2],
        },
        "optimizer": {
            "lr": 2e-3, "ssm_lr": 5e-4, "weight_decay": 0.07, "warmup_epochs": 1, "lr_min": 1e-5,
            "groups": "noBCdecay", "dt": "global",
        },
        "tune": {"dropout": [0.0, 0.2], "lr": {"min": 1e-3, "max": 3e-3}, "dt_max": {"min": 0.05, "max": 0.1}},
    }


def flatten(section, prefix=""):
    """`{"model.layer_kwargs.state_dim": 4, ...}` of a nested recipe."""
    flat = {}
    for key, value in section.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_tune_recipe_keeps_every_field_of_a_speech_recipe(tmp_path, monkeypatch):
    from keras_ssm.layers.frontend import LogMelFrontend
    from keras_ssm.layers.spec_augment import SpecAugment
    from keras_ssm.training import recipe as recipes
    from tests.fsdd_fixture import write_fsdd

    recipe = speech_recipe(write_fsdd(str(tmp_path / "data")))
    trials = []  # (drawn values, model) of every model keras-tuner trains

    def fit(self, hp, model, *args, **kwargs):
        trials.append((dict(hp.values), model))
        return model.fit(*args, **kwargs)

    monkeypatch.setattr(keras_tuner.HyperModel, "fit", fit)
    out = tmp_path / "best.json"
    returned = tune_recipe(recipe, str(out), max_trials=2, verbose=0)

    parsed = recipes.parse_recipe(recipe)
    steps = int(recipes.load_data(parsed).train.cardinality())
    assert len(trials) == 2
    for values, model in trials:
        # (a) the recipe's model: its front end, masks, block settings and layer arguments.
        backbone = model.backbone
        assert isinstance(backbone.frontend_layer, LogMelFrontend) and backbone.frontend_layer.sample_rate == 8000
        assert backbone.frontend_layer.num_mel_bins == 8
        assert isinstance(backbone.get_layer("spec_augment"), SpecAugment)
        assert backbone.spec_augment == recipe["model"]["spec_augment"] and backbone.pool == [2]
        block = backbone.blocks[0]
        config = block.get_config()
        assert (config["norm"], config["prenorm"], config["activation"]) == ("layer", False, "gelu")
        assert (config["gelu_approximate"], config["norm_momentum"], config["norm_epsilon"]) == (False, 0.9, 1e-5)
        assert config["dropout"] == values["dropout"]
        layer = block.layer
        assert (layer.state_dim, layer.init, layer.kernel_dropout) == (4, "lin", 0.1)
        assert layer.dt_max == pytest.approx(values["dt_max"])
        # (b) the recipe's optimizer: per-group rates, decay, groups, warmup and lr_min.
        config = model.optimizer.get_config()
        assert (config["weight_decay"], config["groups"], config["dt"]) == (0.07, "noBCdecay", "global")
        schedules = config["learning_rate"]["config"], config["ssm_learning_rate"]["config"]
        assert [s["peak"] for s in schedules] == pytest.approx([values["lr"], 5e-4])
        assert all(s["warmup_steps"] == steps and s["decay_steps"] == steps for s in schedules)
        assert all(s["end"] == pytest.approx(1e-5) for s in schedules)
    # (c) the best recipe: every field of the input, only the drawn values changed.
    best = json.loads(out.read_text())
    assert best == returned and "tune" not in best
    drawn = {"model.dropout": "dropout", "optimizer.lr": "lr", "model.layer_kwargs.dt_max": "dt_max"}
    expected = flatten({k: v for k, v in parsed.items() if k != "tune"})
    found = flatten(best)
    assert set(found) == set(expected)
    assert {k: v for k, v in found.items() if k not in drawn} == {k: v for k, v in expected.items() if k not in drawn}
    assert {key: found[path] for path, key in drawn.items()} in [values for values, _ in trials]
    recipes.parse_recipe(best)
