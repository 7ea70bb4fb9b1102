"""Training a layer on TensorFlow logs no complex -> float cast warnings
(issue #29, item 8: the README's quickstart printed 62 of them).

TF logs "You are casting an input of type complex64 to an incompatible dtype
float32" for every such cast it traces; the gradient of a float -> complex
cast is one, so the layers build complex numbers with `tf.complex` and
multiply real by complex part by part."""

import logging

import keras
import numpy as np
import pytest

from keras_ssm import DSSLayer, S4DLayer, S5Layer

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's cast warning")

LAYERS = {
    "s5": lambda: S5Layer(state_dim=8, blocks=2),
    "s5_bilinear": lambda: S5Layer(state_dim=8, discretization="bilinear", bidirectional=True),
    "s4d": lambda: S4DLayer(state_dim=8, init="legs"),
    "s4d_bilinear": lambda: S4DLayer(state_dim=8, discretization="bilinear", bidirectional=True),
    "dss_exp": lambda: DSSLayer(state_dim=8, variant="exp"),
    "dss_softmax": lambda: DSSLayer(state_dim=8, variant="softmax"),
}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_training_logs_no_complex_cast(name):
    records = _Records()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(records)
    try:
        model = keras.Sequential([
            keras.Input((None, 4)), LAYERS[name](), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = np.random.default_rng(0).standard_normal((2, 20, 4)).astype("float32")
        model.fit(x, np.array([0, 2]), epochs=1, verbose=0)
        model.predict(x, verbose=0)
    finally:
        logger.removeHandler(records)
    casts = [m for m in records.messages if "complex64 to an incompatible dtype" in m]
    assert casts == []
