import keras_tuner
import numpy as np
import pytest

from keras_ssm.tuning import SSMHyperModel
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
