"""Every sublayer of a model is built once the model has been called.

Keras's JAX trainer re-runs a whole model eagerly before each `predict`,
`fit` or `evaluate` while any of its layers (`_flatten_layers()`) is unbuilt,
so one unbuilt helper layer (e.g. one used only by streaming) makes every
`predict` pay a full eager forward pass on top of the compiled one.
"""

import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.retrieval import SSMRetrievalClassifier
from tests.zoo.pinned import model_inputs


def unbuilt(model):
    return [f"{layer.name} ({type(layer).__name__})" for layer in model._flatten_layers() if not layer.built]


def audio(length=64):
    x = np.random.default_rng(0).uniform(-1, 1, (2, length, 1)).astype("float32")
    return x, np.arange(length)[None] < np.array([[length], [length // 2]])


@pytest.mark.parametrize("layer", ["s4d", "dss", "s5"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_a_called_classifier_has_no_unbuilt_layer(layer, pooling):
    backbone = SSMBackbone(layer, depth=2, width=8, input_dim=1, pool=[2, 1], layer_kwargs={"state_dim": 4})
    model = SSMClassifier(backbone, num_classes=3, pooling=pooling)
    model(audio())
    assert unbuilt(model) == []


def test_a_called_audio_front_end_classifier_has_no_unbuilt_layer():
    backbone = SSMBackbone(
        "s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4, "bidirectional": True},
        frontend={"sample_rate": 8000, "num_mel_bins": 8}, spec_augment={"freq_width": 2, "time_width": 2},
    )
    model = SSMClassifier(backbone, num_classes=3)
    model(audio(1600))
    assert unbuilt(model) == []


def test_called_token_models_have_no_unbuilt_layer():
    tokens = np.array([[3, 4, 5, 0], [1, 2, 0, 0]], "int32")
    classifier = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, vocab_size=10, layer_kwargs={"state_dim": 4}),
                               num_classes=2)
    classifier(tokens)
    assert unbuilt(classifier) == []
    retrieval = SSMRetrievalClassifier(SSMBackbone("s5", depth=1, width=8, vocab_size=10,
                                                   layer_kwargs={"state_dim": 4}))
    retrieval((tokens, tokens[::-1]))
    assert unbuilt(retrieval) == []


@pytest.mark.parametrize("name", zoo.list_presets())
def test_a_loaded_and_called_preset_has_no_unbuilt_layer(name):
    model = zoo.load(name)
    model(model_inputs(zoo.describe(name)))
    assert unbuilt(model) == []


def test_a_loaded_preset_holds_its_weights_and_leaves_nothing_deferred():
    """`zoo.load` builds with deferred variables that start from the file's
    weights: none is left for a later scope to initialise over them."""
    import keras

    model = zoo.load("fsdd_s5")
    weights = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with keras.StatelessScope():
        pass  # leaving a scope initialises every variable still deferred
    again = zoo.load("fsdd_s5")
    for variable, before, loaded in zip(model.weights, weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), before)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded), before)
    model.load_weights(zoo.preset_path("fsdd_s5") / "model.weights.h5")
    for variable, before in zip(model.weights, weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), before)
