"""`trainable` flags survive a `.keras` save / load (issue #29, item 3).

The composites rebuild their sublayers from arguments, so without care a
frozen backbone comes back trainable and a linear-probe checkpoint resumes
training the whole model.
"""

import keras
import numpy as np
import pytest

from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.freezing import FROZEN_KEY
from keras_ssm.models import SSMBackbone, SSMClassifier
from tests.layer_test_case import numpy

LAYERS = {"s5": {"state_dim": 4}, "s4d": {"state_dim": 4}, "dss": {"state_dim": 4}}


def classifier(layer, tokens=False):
    inputs = {"vocab_size": 12} if tokens else {"input_dim": 1}
    backbone = SSMBackbone(layer, depth=2, width=8, layer_kwargs=LAYERS[layer], activation="glu", **inputs)
    return SSMClassifier(backbone, num_classes=3)


def round_trip(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return keras.saving.load_model(path)


def trainable_names(model):
    """Which of `model.weights` (in order: their names hold Keras's global
    counter, which differs in the loaded copy) are trainable."""
    trainable = {id(v) for v in model.trainable_weights}
    return [id(v) in trainable for v in model.weights]


FREEZES = {
    "backbone": lambda m: setattr(m.backbone, "trainable", False),
    "block_0": lambda m: setattr(m.backbone.blocks[0], "trainable", False),
    "ssm_layers": lambda m: [setattr(b.layer, "trainable", False) for b in m.backbone.blocks],
    "norm_and_head": lambda m: (setattr(m.backbone.blocks[1].norm, "trainable", False),
                                setattr(m.head, "trainable", False)),
}


@pytest.mark.parametrize("freeze", sorted(FREEZES))
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_frozen_layers_stay_frozen(layer, freeze, tmp_path):
    model = classifier(layer)
    FREEZES[freeze](model)
    before = trainable_names(model)
    assert 0 < sum(before) < len(before)
    loaded = round_trip(model, tmp_path)
    assert trainable_names(loaded) == before
    if freeze == "backbone":
        assert len(loaded.trainable_weights) == 2  # the head's kernel and bias
        assert not loaded.backbone.trainable


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_loaded_linear_probe_trains_the_head_only(layer, tmp_path):
    keras.utils.set_random_seed(0)
    model = classifier(layer, tokens=True)
    model.backbone.trainable = False
    loaded = round_trip(model, tmp_path)
    loaded.compile(optimizer=keras.optimizers.SGD(0.1),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    backbone_before = [numpy(w) for w in loaded.backbone.weights]
    head_before = numpy(loaded.head.kernel)
    x = np.random.default_rng(0).integers(1, 12, (4, 10)).astype("int32")
    loaded.fit(x, np.array([0, 1, 2, 0]), epochs=1, batch_size=4, verbose=0)
    for before, after in zip(backbone_before, loaded.backbone.weights):
        np.testing.assert_array_equal(before, numpy(after))
    assert not np.array_equal(head_before, numpy(loaded.head.kernel))


def test_trainable_false_at_construction_reaches_every_weight():
    backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs=LAYERS["s5"], trainable=False)
    model = SSMClassifier(backbone, num_classes=2)
    assert len(model.trainable_weights) == 2
    block = SSMBlock("s4d", layer_kwargs=LAYERS["s4d"], trainable=False)
    block(np.zeros((1, 5, 4), "float32"))
    assert block.trainable_weights == [] and all(not v.trainable for v in block.weights)


def test_a_block_alone_keeps_its_norm_frozen(tmp_path):
    block = SSMBlock("dss", layer_kwargs=LAYERS["dss"], activation="half_glu1")
    model = keras.Sequential([keras.Input((None, 4)), block])
    block.norm.trainable = False
    loaded = round_trip(model, tmp_path)
    assert trainable_names(loaded) == trainable_names(model)
    assert not loaded.layers[0].norm.trainable


def test_untouched_configs_name_no_frozen_layers():
    # Preset configs (sha256-pinned) stay byte for byte as they were.
    model = classifier("s5")
    assert FROZEN_KEY not in model.get_config()
    assert FROZEN_KEY not in model.backbone.get_config()
    assert FROZEN_KEY not in model.backbone.blocks[0].get_config()
