"""Continuous-input models: the padding mask, downsampling between blocks,
streaming with masks, and re-targeting to another sampling rate."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.rate import retarget, step_scale_for_rate
from tests.layer_test_case import check_other_backends, numpy

LAYERS = {
    "s4d": {"state_dim": 8, "seed": 0},
    "dss": {"state_dim": 8, "variant": "exp", "seed": 0},
    "s5": {"state_dim": 8, "blocks": 2, "seed": 0},
}
LENGTHS = [45, 30, 17]


def audio_classifier(layer, pool=(4, 2, 1), **kwargs):
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone(layer, depth=3, width=8, input_dim=1, pool=list(pool), layer_kwargs=LAYERS[layer], **kwargs)
    return SSMClassifier(backbone, num_classes=3)


def padded_batch(lengths=LENGTHS, seed=0):
    """Right-padded clips, their mask, and each clip alone."""
    rng = np.random.default_rng(seed)
    longest = max(lengths)
    mask = np.arange(longest)[None] < np.array(lengths)[:, None]
    x = rng.uniform(-1, 1, (len(lengths), longest, 1)).astype("float32") * mask[..., None]
    return x, mask, [x[i : i + 1, :n] for i, n in enumerate(lengths)]


def each_alone(model, clips):
    return np.concatenate([numpy(model(clip)) for clip in clips])


@pytest.mark.parametrize(
    "layer, pool", [("s4d", (4, 2, 1)), ("dss", (4, 2, 1)), ("s5", (4, 2, 1)), ("s4d", (1, 1, 1)), ("s5", (3, 1, 5))]
)
def test_padded_batch_equals_each_clip_alone(layer, pool):
    model = audio_classifier(layer, pool)
    x, mask, clips = padded_batch()
    alone = each_alone(model, clips)
    np.testing.assert_allclose(numpy(model((x, mask))), alone, atol=1e-5)
    np.testing.assert_allclose(model.predict((x, mask), verbose=0), alone, atol=1e-5)
    # Without the mask the padding reaches the SSMs: the test can fail.
    assert np.abs(numpy(model(x))[1:] - alone[1:]).max() > 1e-4


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_fit_and_evaluate_on_masked_batches(layer):
    model = audio_classifier(layer)
    x, mask, clips = padded_batch()
    y = np.array([0, 1, 2], "int32")
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = float(loss(y, each_alone(model, clips)))
    dataset = tf.data.Dataset.from_tensor_slices(((x, mask), y)).batch(3)
    np.testing.assert_allclose(model.evaluate(dataset, verbose=0)[0], expected, rtol=1e-5)
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_streaming_a_padded_batch_equals_each_clip_alone(layer):
    model = audio_classifier(layer)
    x, mask, clips = padded_batch()
    state = model.get_initial_state(len(LENGTHS))
    for k in range(x.shape[1]):
        logits, state = model.step(x[:, k], state, mask_t=mask[:, k])
        if k + 1 == 24:  # a frame boundary (stride 8): the prefix's logits
            np.testing.assert_allclose(numpy(logits), numpy(model((x[:, :24], mask[:, :24]))), atol=1e-5)
    np.testing.assert_allclose(numpy(model.finish(state)), each_alone(model, clips), atol=1e-5)
    # finish leaves the state as it was
    np.testing.assert_allclose(numpy(model.finish(state)), each_alone(model, clips), atol=1e-5)


def test_finish_flushes_every_partial_frame():
    model = audio_classifier("s5", pool=(3, 2, 2))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 17, 1)).astype("float32")  # stride 12: 17 = 12 + 5
    state = model.get_initial_state(2)
    for k in range(17):
        _, state = model.step(x[:, k], state)
        if k + 1 in (1, 6, 13, 17):
            np.testing.assert_allclose(numpy(model.finish(state)), numpy(model(x[:, : k + 1])), atol=1e-5)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_retargeted_model_equals_step_scale_set_by_hand(layer, tmp_path):
    model = audio_classifier(layer)
    x, _, _ = padded_batch()
    slower = retarget(model, 2.0)
    assert slower.backbone.step_scale == 2.0
    # By hand: every block's SSM layer called with step_scale=2.
    h = model.backbone.encoder(x)
    mask = None
    for block, p in zip(model.backbone.blocks, model.backbone.pool):
        h = block(h, mask=mask, step_scale=2.0)
        if p > 1:
            h, mask = next(d for d in model.backbone.downsamplers if d.factor == p)(h, mask=mask)
    by_hand = numpy(model.head(model.pooling(h, mask=mask)))
    np.testing.assert_allclose(numpy(slower(x)), by_hand, atol=1e-5)
    assert np.abs(by_hand - numpy(model(x))).max() > 1e-4
    # The factor is kept in the saved model.
    path = str(tmp_path / "slower.keras")
    slower.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.backbone.step_scale == 2.0
    np.testing.assert_allclose(numpy(loaded(x)), by_hand, atol=1e-5)


def test_retarget_config_composes_and_refuses_bad_input():
    config = audio_classifier("s4d").get_config()
    twice = SSMClassifier.retarget_config(SSMClassifier.retarget_config(config, 2.0), 0.25)
    assert twice["backbone"]["config"]["step_scale"] == 0.5
    assert step_scale_for_rate(8000, 16000) == 0.5
    with pytest.raises(ValueError, match="step_scale"):
        SSMClassifier.retarget_config(config, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        step_scale_for_rate(8000, -1)
    with pytest.raises(ValueError, match="pool"):
        SSMBackbone("s4d", depth=2, input_dim=1, pool=[2])
    with pytest.raises(ValueError, match="step_scale"):
        SSMBackbone("s4d", depth=2, input_dim=1, step_scale=-1.0)


@pytest.mark.parametrize("layer", ["s4d", "s5"])
def test_masked_pooled_model_on_other_backends(layer, tmp_path):
    model = audio_classifier(layer)
    x, _, _ = padded_batch()
    check_other_backends(model, x, tmp_path)
