"""One training step compiled (`jit_compile=True`: XLA on JAX / TensorFlow,
torch.compile on torch) against the same step run eagerly, for every layer
kind: a compiled step must update every weight as the eager one does."""

import keras
import numpy as np
import pytest

from keras_ssm.models import SSMBackbone, SSMClassifier

LAYERS = {
    "s4d": {"state_dim": 8},
    "dss": {"state_dim": 4},
    "s5": {"state_dim": 8, "blocks": 2},
    "s4d_bidirectional": {"state_dim": 8, "bidirectional": True},
}


def _one_step(kind, layer_kwargs, jit_compile):
    keras.utils.set_random_seed(0)
    model = SSMClassifier(
        SSMBackbone(kind, depth=1, width=8, input_dim=1, layer_kwargs=layer_kwargs), num_classes=3
    )
    x = np.random.default_rng(0).normal(size=(4, 32, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    model(x)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    model.train_on_batch(x, y)
    return {
        v.path.split("/", 1)[-1]: keras.ops.convert_to_numpy(v) - start
        for v, start in zip(model.trainable_variables, before)
    }


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_compiled_training_step_equals_eager(name):
    kind = name.split("_")[0]
    eager = _one_step(kind, LAYERS[name], jit_compile=False)
    compiled = _one_step(kind, LAYERS[name], jit_compile=True)
    assert len(eager) == len(compiled)
    for (path, update), other in zip(eager.items(), compiled.values()):
        scale = np.abs(update).max()
        assert scale > 0, f"{path} did not move"
        np.testing.assert_allclose(other, update, atol=1e-4 * scale, rtol=1e-3, err_msg=path)
