import json

import keras_tuner
import numpy as np
import pytest

from keras_ssm.layers.block import sequence_layer
from keras_ssm.models import SSMRetrievalClassifier
from keras_ssm.tuning import SSMHyperModel, best_recipe, tune_recipe
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
    recipe = {"name": "t", "epochs": 1, "data": {}, "model": {}, "optimizer": {}, "tune": {}}
    best = best_recipe(recipe, hp.values)
    layer_kwargs = best["model"]["layer_kwargs"]
    assert layer_kwargs[key] == used
    layer = sequence_layer(best["model"]["layer"], **layer_kwargs)  # the recipe builds
    assert getattr(layer, key) == used


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
