"""What all three layers share: Keras integration, bad inputs, long sequences,
and loading a model saved on one backend into the other two."""

import keras
import numpy as np
import pytest

import keras_ssm
from keras_ssm.simulate import simulate
from tests.layer_test_case import check_other_backends, inputs, numpy, relative_error

LAYERS = {
    "s4d": lambda **kw: keras_ssm.S4DLayer(state_dim=16, **kw),
    "dss_exp": lambda **kw: keras_ssm.DSSLayer(state_dim=8, variant="exp", **kw),
    "dss_softmax": lambda **kw: keras_ssm.DSSLayer(state_dim=8, variant="softmax", **kw),
    "s5": lambda **kw: keras_ssm.S5Layer(state_dim=16, blocks=2, **kw),
}


@pytest.fixture(params=sorted(LAYERS))
def make_layer(request):
    return LAYERS[request.param]


def test_bad_inputs(make_layer):
    layer = make_layer(seed=0)
    layer(inputs(10))
    with pytest.raises(ValueError, match="rank 3"):
        layer(np.ones((3, 10), "float32"))
    with pytest.raises(ValueError, match="features|incompatible"):
        layer(np.ones((3, 10, 5), "float32"))
    with pytest.raises(ValueError, match="float"):
        layer(np.ones((3, 10, 4), "int32"))
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="step_scale"):
            layer(inputs(10), step_scale=bad)
    with pytest.raises(ValueError, match="inputs_t"):
        layer.step(np.ones((3, 5), "float32"), None)


def test_bidirectional_layers_refuse_to_stream(make_layer):
    layer = make_layer(seed=0, bidirectional=True)
    layer(inputs(10))
    with pytest.raises(ValueError, match="bidirectional"):
        layer.step(np.ones((3, 4), "float32"), None)


def test_step_scale_changes_the_output(make_layer):
    layer = make_layer(seed=0)
    x = inputs(30)
    assert not np.allclose(numpy(layer(x)), numpy(layer(x, step_scale=2.0)))


def test_variables_tagged_for_the_optimizer(make_layer):
    layer = make_layer(seed=0)
    layer.build((None, None, 4))
    tagged = {v.path.split("/")[-1] for v in layer.ssm_variables}
    assert tagged and not tagged & {"D", "C_re", "C_im", "W_re", "W_im"}
    assert all(v.ssm_optimizer["weight_decay"] == 0.0 for v in layer.ssm_variables)


def test_functional_and_subclassed_models(make_layer):
    x = keras.Input((None, 4))
    functional = keras.Model(x, make_layer(seed=0)(x))
    assert functional.output_shape == (None, None, 4)
    assert numpy(functional(inputs(12))).shape == (3, 12, 4)

    class Wrapped(keras.Model):
        def __init__(self):
            super().__init__()
            self.ssm = make_layer(seed=0)
            self.head = keras.layers.Dense(1)

        def call(self, x):
            return self.head(self.ssm(x))

    assert numpy(Wrapped()(inputs(12))).shape == (3, 12, 1)


def test_sequential_learns_a_long_memory_task(tmp_path):
    # The label is the sign of the first step's first feature, read 256 steps later.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 256, 4)).astype("float32") * 0.1
    x[:, 0, 0] = rng.choice([-1.0, 1.0], 128)
    y = (x[:, 0, 0] > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None, 4)),
            keras.layers.Dense(16),
            keras_ssm.S4DLayer(state_dim=16),
            keras.layers.Activation("gelu"),
            keras_ssm.DSSLayer(state_dim=16, variant="exp"),
            keras.layers.Activation("gelu"),
            keras_ssm.S5Layer(state_dim=16, blocks=2),
            keras.layers.Lambda(lambda t: t[:, -1]),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.8
    assert np.all(np.isfinite(numpy(model(inputs(500)[:, :, :4]))))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_long_sequence_forward_and_backward_are_finite(name):
    x = inputs(16384, batch=2, features=64)
    layer = LAYERS[name](seed=0, **({"clip_eigs": False} if name == "s5" else {}))
    model = keras.Sequential([keras.Input((None, 64)), layer])
    # Finite is not enough: the float32 pass over 16,384 steps is the float64
    # recurrence (its long FFTs, chunked kernel and scan included).
    params = layer.ssm_parameters(length=16384) if name == "dss_softmax" else layer.ssm_parameters()
    assert relative_error(numpy(model(x)), simulate(params, x)) <= 1e-4
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    loss = model.train_on_batch(x, x)
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(numpy(v))) for v in model.weights)


def test_saved_model_loads_on_the_other_backends(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((None, 4)),
            keras_ssm.S4DLayer(state_dim=8, bidirectional=True),
            keras_ssm.DSSLayer(state_dim=8, variant="softmax"),
            keras_ssm.DSSLayer(state_dim=8, variant="exp", discretization="bilinear"),
            keras_ssm.S5Layer(state_dim=8, blocks=2, bidirectional=True),
            keras.layers.Dense(3),
        ]
    )
    check_other_backends(model, inputs(40), tmp_path)


class VariableLengthBatches(keras.utils.PyDataset):
    """Batches of different lengths, as length bucketing produces."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.batches = [
            (rng.standard_normal((4, n, 4)).astype("float32"), rng.standard_normal((4, 1)).astype("float32"))
            for n in (17, 40, 64, 23)
        ]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def test_fit_on_batches_of_varying_length(make_layer):
    model = keras.Sequential(
        [keras.Input((None, 4)), make_layer(seed=0), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    history = model.fit(VariableLengthBatches(), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="only TF graphs have lengths unknown at trace time"
)
def test_unknown_length_in_a_tensorflow_graph(make_layer):
    import tensorflow as tf

    layer = make_layer(seed=0)
    x = inputs(37)
    traced = tf.function(layer.__call__, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)])
    np.testing.assert_allclose(numpy(traced(x)), numpy(layer(x)), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mixed_bfloat16_policy(make_layer, bidirectional):
    # The system stays float32 (its variables are not autocast); inputs and
    # outputs follow the policy, and the result is the float32 one rounded.
    x = inputs(40)
    reference = make_layer(seed=0, bidirectional=bidirectional)
    mixed = make_layer(seed=0, bidirectional=bidirectional, dtype="mixed_bfloat16")
    expected = numpy(reference(x))
    y = mixed(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in mixed.weights)
    got = numpy(keras.ops.cast(y, "float32"))
    # Inputs are not autocast and the system runs in float32, so the only
    # bfloat16 error is the output's rounding: at most half an ulp, 2^-8 of
    # each value (8-bit significand). The atol (1e-5 of the scale) leaves room
    # for float32 round-off on values near zero, nothing more.
    np.testing.assert_allclose(got, expected, rtol=2.0**-8, atol=1e-5 * np.abs(expected).max())


def _small_model(layer, features=4):
    return keras.Sequential(
        [keras.Input((None, features)), layer, keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )


# torch.compile (jit_compile=True on torch) took 20-30 s per model even for a
# one-mode layer on this 2-core CPU (measured: DSS-exp 21 s, S5 27 s, S4D 29 s,
# fit + predict): torch compiles one tiny layer only.
TORCH_JIT_LAYER = "dss_exp"


def test_jit_compiled_fit_and_predict_equal_eager(make_layer, request):
    # jit_compile=True is XLA on JAX and TensorFlow, torch.compile on PyTorch.
    name = request.node.callspec.params["make_layer"]
    torch = keras.backend.backend() == "torch"
    if torch and name != TORCH_JIT_LAYER:
        pytest.skip(f"torch.compile takes 20-30 s per model on this CPU: only {TORCH_JIT_LAYER} is compiled")
    features = 1 if torch else 4

    def layer():
        if torch:  # the tiny layer: one feature, one mode
            return keras_ssm.DSSLayer(state_dim=1, variant="exp", seed=0)
        return make_layer(seed=0)

    x = inputs(16, features=features)
    y = np.random.default_rng(1).standard_normal((3, 1)).astype("float32")
    jitted, eager = _small_model(layer(), features), _small_model(layer(), features)
    eager.set_weights(jitted.get_weights())
    for model, jit in ((jitted, True), (eager, False)):
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit)
        assert model.jit_compile is jit  # Keras did not fall back to eager
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    expected = eager.predict(x, verbose=0)
    scale = np.abs(expected).max()
    # The compiled training step took the same step as the eager one ...
    np.testing.assert_allclose(jitted.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5 * scale)
    # ... and the compiled predictions are the model's eager call.
    np.testing.assert_allclose(jitted.predict(x, verbose=0), numpy(jitted(x)), rtol=1e-5, atol=1e-5 * scale)


def test_mixed_float16_layer_inside_a_model(make_layer):
    # Under a global mixed_float16 policy the SSM keeps float32 variables and
    # arithmetic; the model trains (with loss scaling) and predicts as the
    # float32 one within float16's resolution.
    x = inputs(32)
    y = np.random.default_rng(1).standard_normal((3, 1)).astype("float32")
    reference = _small_model(make_layer(seed=0))
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _small_model(make_layer(seed=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.set_weights(reference.get_weights())
    ssm = model.layers[0]
    assert ssm.compute_dtype == "float16" and all(
        keras.backend.standardize_dtype(v.dtype) == "float32" for v in ssm.weights
    )
    assert keras.backend.standardize_dtype(ssm(x).dtype) == "float16"
    expected = numpy(reference(x))
    got = numpy(model(x)).astype("float32")
    # float16's half ulp is 2^-11 of a value; the SSM output's rounding, the
    # float16 pooling and Dense head add a few (measured: at most 1.3 x 2^-11
    # of the scale, on every backend). Bound: 4 half ulps of the scale.
    np.testing.assert_allclose(got, expected, rtol=0, atol=2.0**-9 * np.abs(expected).max())
    model.compile(keras.optimizers.SGD(1e-2), "mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    loss = model.fit(x, y, batch_size=3, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss) and all(np.all(np.isfinite(numpy(v))) for v in model.weights)
