import keras
import numpy as np
import pytest

from keras_ssm.layers.block import SSMBlock, sequence_layer
from keras_ssm.layers.s4d import S4DLayer
from tests.layer_test_case import inputs, numpy


@pytest.mark.parametrize("activation", ["gelu", "glu", "half_glu1", "half_glu2"])
@pytest.mark.parametrize("norm, prenorm", [("batch", True), ("layer", False)])
def test_streaming_equals_full_pass(activation, norm, prenorm):
    block = SSMBlock("s4d", {"state_dim": 8, "seed": 0}, norm=norm, prenorm=prenorm, activation=activation, dropout=0.2)
    x = inputs(25)
    full = numpy(block(x))
    state, outputs = block.get_initial_state(3), []
    for k in range(25):
        y, state = block.step(x[:, k], state)
        outputs.append(numpy(y))
    np.testing.assert_allclose(np.stack(outputs, 1), full, atol=1e-5)


def test_activation_formulas():
    block = SSMBlock(S4DLayer(state_dim=8, seed=0), activation="half_glu2", norm="layer")
    x = inputs(10)
    out = numpy(block(x))
    y = numpy(block.layer(numpy(block.norm(x))))
    gelu = numpy(keras.ops.gelu(y))
    gate = 1 / (1 + np.exp(-(gelu @ numpy(block.gate_kernel) + numpy(block.gate_bias))))
    np.testing.assert_allclose(out, x + y * gate, atol=1e-5)


def test_batch_norm_statistics_ignore_padded_steps():
    block = SSMBlock("s5", {"state_dim": 8, "seed": 0}, norm="batch")
    x = inputs(20)
    mask = np.arange(20)[None] < np.array([[20], [12], [7]])
    garbage = np.where(mask[..., None], x, 1e3).astype("float32")
    clean = np.where(mask[..., None], x, 0.0).astype("float32")
    out_garbage = numpy(block(garbage, mask=mask, training=True))
    mean_garbage = numpy(block.norm.moving_mean).copy()
    block.norm.moving_mean.assign(np.zeros_like(mean_garbage))
    out_clean = numpy(block(clean, mask=mask, training=True))
    np.testing.assert_allclose(numpy(block.norm.moving_mean), mean_garbage, atol=1e-5)
    np.testing.assert_allclose(out_garbage[mask], out_clean[mask], atol=1e-4)


def test_dropout_is_tied_over_time():
    # With dropout p the residual branch of each (example, feature) channel is
    # the branch without dropout times one factor for all steps: 0 (dropped)
    # or 1 / (1 − p). (Exact zeros alone prove nothing: GELU underflows to 0.)
    keras.utils.set_random_seed(0)  # the dropout mask too
    block = SSMBlock("s4d", {"state_dim": 8, "seed": 0}, norm="layer", activation="gelu", dropout=0.5)
    x = inputs(30, features=16)
    kept = numpy(block(x, training=False)) - x
    dropped = numpy(block(x, training=True)) - x
    factor = np.sum(dropped * kept, axis=1) / np.sum(kept * kept, axis=1)  # least squares, per channel
    np.testing.assert_allclose(dropped, factor[:, None, :] * kept, atol=1e-5 * np.abs(kept).max())
    assert np.all(np.isclose(factor, 0.0, atol=1e-4) | np.isclose(factor, 2.0, atol=1e-4)), factor
    assert (factor < 1).any() and (factor > 1).any()  # some channels dropped, some kept


def test_save_and_reload(tmp_path):
    model = keras.Sequential([keras.Input((None, 4)), SSMBlock("dss", {"state_dim": 8}, activation="glu")])
    x = inputs(16)
    path = str(tmp_path / "block.keras")
    model.save(path)
    np.testing.assert_allclose(numpy(keras.saving.load_model(path)(x)), numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layer="s6"), "layer"),
        (dict(norm="group"), "norm"),
        (dict(activation="relu"), "activation"),
        (dict(dropout=1.0), "dropout"),
        (dict(norm_momentum=1.0), "norm_momentum"),
        (dict(norm_epsilon=0.0), "norm_epsilon"),
        (dict(gelu_approximate="tanh"), "gelu_approximate"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSMBlock(**kwargs)


@pytest.mark.parametrize("approximate", [True, False])
def test_gelu_form_is_the_papers(approximate):
    from scipy.special import erf

    block = SSMBlock(S4DLayer(state_dim=8, seed=0), activation="gelu", norm="layer", gelu_approximate=approximate)
    x = inputs(10)
    out = numpy(block(x))
    y = numpy(block.layer(numpy(block.norm(x)))).astype(np.float64)
    if approximate:  # flax's nn.gelu default (S5's code)
        gelu = 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y**3)))
    else:  # torch's nn.GELU default (S4's code)
        gelu = 0.5 * y * (1 + erf(y / np.sqrt(2)))
    np.testing.assert_allclose(out, x + gelu, atol=1e-5)
    other = 0.5 * y * (1 + erf(y / np.sqrt(2))) if approximate else 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y**3)))
    assert np.abs(out - (x + other)).max() > 1e-5  # the two forms differ here


def test_norm_momentum_and_epsilon_are_used_and_saved(tmp_path):
    block = SSMBlock(S4DLayer(state_dim=8, seed=0), norm_momentum=0.9, norm_epsilon=1e-5)
    x = inputs(12)
    block(x)
    mean, var = np.linspace(-1, 1, x.shape[-1]), np.full(x.shape[-1], 1e-4)
    block.norm.moving_mean.assign(mean.astype("float32"))
    block.norm.moving_variance.assign(var.astype("float32"))
    normed = numpy(block.norm(x, training=False))
    np.testing.assert_allclose(normed, (x - mean) / np.sqrt(var + 1e-5) * numpy(block.norm.gamma) + numpy(block.norm.beta),
                               rtol=1e-4, atol=1e-4)
    block.norm(x, training=True)  # one update of the running mean with momentum 0.9
    np.testing.assert_allclose(numpy(block.norm.moving_mean), 0.9 * mean + 0.1 * x.mean(axis=(0, 1)), atol=1e-5)
    config = block.get_config()
    assert (config["norm_momentum"], config["norm_epsilon"], config["gelu_approximate"]) == (0.9, 1e-5, True)
    again = SSMBlock.from_config(config)
    assert (again.norm.momentum, again.norm.epsilon) == (0.9, 1e-5)
    layer_norm = SSMBlock(S4DLayer(state_dim=8, seed=0), norm="layer", norm_epsilon=1e-5)
    assert layer_norm.norm.epsilon == 1e-5


def test_instance_and_kwargs_are_exclusive():
    with pytest.raises(ValueError, match="instance"):
        sequence_layer(S4DLayer(), state_dim=8)


def test_return_state_is_refused_with_a_pointer_to_chunk():
    block = SSMBlock("s5", {"state_dim": 8, "seed": 0})
    x = inputs(12)
    block(x)
    with pytest.raises(ValueError, match="return_state.*chunk"):
        block(x, return_state=True)
    # The state is carried by `chunk`, equal to the full pass.
    first, state = block.chunk(x[:, :5], block.get_initial_state(3))
    second, _ = block.chunk(x[:, 5:], state)
    np.testing.assert_allclose(np.concatenate([numpy(first), numpy(second)], 1), numpy(block(x)), atol=1e-5)


@pytest.mark.parametrize("how", ["layer", "global"])
def test_mixed_float16_block_casts_its_input(how):
    # float32 inputs into a float16 block (the block used on its own): the
    # residual is taken in the compute dtype (TF refused half + float).
    x = inputs(20)
    reference = SSMBlock("s4d", {"state_dim": 8, "seed": 0}, activation="half_glu1")
    expected = numpy(reference(x))
    if how == "global":
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        block = SSMBlock(
            "s4d", {"state_dim": 8, "seed": 0}, activation="half_glu1",
            **({"dtype": "mixed_float16"} if how == "layer" else {}),
        )
        block.build(x.shape)
        block.set_weights(reference.get_weights())
        y = block(x)
        state, step_outputs = block.get_initial_state(3), []
        for k in range(3):
            y_t, state = block.step(x[:, k], state)
            step_outputs.append(y_t)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(y_t.dtype) == "float16" for y_t in step_outputs)
    np.testing.assert_allclose(numpy(y).astype("float32"), expected, atol=2e-2 * np.abs(expected).max())
