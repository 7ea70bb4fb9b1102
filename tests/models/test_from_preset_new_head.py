"""`SSMClassifier.from_preset(name, num_classes=K)`: a new K-way head on the
pretrained backbone (issue #29, item 6; keras-hub's fine-tuning idiom)."""

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from tests.layer_test_case import numpy

PRESET = "fsdd_s5"


def audio(batch=2, samples=640, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (batch, samples, 1)).astype("float32")


def test_new_head_on_the_pretrained_backbone_fits():
    preset = zoo.load(PRESET)
    model = SSMClassifier.from_preset(PRESET, num_classes=3)
    assert model.output_shape == (None, 3)
    assert numpy(model.head.kernel).shape == (preset.backbone.width, 3)
    assert model.pooling_mode == preset.pooling_mode  # the preset's other head settings
    assert len(model.backbone.weights) == len(preset.backbone.weights)
    for mine, theirs in zip(model.backbone.weights, preset.backbone.weights):
        np.testing.assert_array_equal(numpy(mine), numpy(theirs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = audio()
    history = model.fit(x, np.array([0, 2]), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert tuple(model.predict(x, verbose=0).shape) == (2, 3)


def test_without_num_classes_the_preset_head_is_kept():
    preset = zoo.load(PRESET)
    model = SSMClassifier.from_preset(PRESET)
    assert model.output_shape == (None, len(zoo.describe(PRESET)["labels"]))
    np.testing.assert_array_equal(numpy(model.head.kernel), numpy(preset.head.kernel))


def test_compile_with_a_new_head():
    model = SSMClassifier.from_preset(PRESET, num_classes=2, compile=True)
    assert model.compiled and model.output_shape == (None, 2)


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, True, "3"])
def test_a_bad_num_classes_is_refused(num_classes):
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        SSMClassifier.from_preset(PRESET, num_classes=num_classes)


def test_a_backbone_takes_no_num_classes():
    with pytest.raises(ValueError, match="`num_classes`.*SSMClassifier.from_preset"):
        SSMBackbone.from_preset(PRESET, num_classes=3)
