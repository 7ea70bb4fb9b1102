"""SSMHyperModel with the DSS family: both variants build, compile and train."""

import keras_tuner
import numpy as np
import pytest

from keras_ssm import DSSLayer
from keras_ssm.tuning import SSMHyperModel
from tests.test_tuning import task


@pytest.mark.parametrize("variant", ["exp", "softmax"])
def test_dss_hypermodel_builds_and_fits_one_step(variant):
    x, y = task(n=8, length=16)
    hp = keras_tuner.HyperParameters()
    hypermodel = SSMHyperModel(2, input_shape=(None, 1), layer="dss", variant=variant, depth=1, width=8, state_dim=8)
    model = hypermodel.build(hp)
    layer = model.backbone.blocks[0].layer
    assert isinstance(layer, DSSLayer) and layer.variant == variant and layer.state_dim == 8
    assert hp.values["layer"] == "dss" and hp.values["dss_variant"] == variant
    before = [np.array(v.numpy()) for v in layer.trainable_variables]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history
    # The step moved the DSS layer's own weights and kept every weight finite.
    assert any(not np.array_equal(a, np.array(v.numpy())) for a, v in zip(before, layer.trainable_variables))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.predict(x, verbose=0).shape == (8, 2)
