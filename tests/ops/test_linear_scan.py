"""Tests for `keras_ssm.ops.linear_scan`: the reference against a float64 numpy
recurrence, the dispatched fast path of the active backend against the
reference (values and gradients), state carrying, and compiled/graph use."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops import reference
from tests.grad_utils import value_and_grad

BATCH, WIDTH = 3, 4
BACKEND = keras.backend.backend()


def data(length, varying, seed=0, batch=BATCH, width=WIDTH):
    """`(a, b, h0)` complex64, |a| in (0.5, 1)."""
    rng = np.random.default_rng(seed)
    a_shape = (batch, length, width) if varying else (width,)
    a = rng.uniform(0.5, 1.0, a_shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, a_shape))

    def normal(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

    b, h0 = normal(batch, length, width), normal(batch, width)
    return a.astype("complex64"), b.astype("complex64"), h0.astype("complex64")


def numpy_scan(a, b, reverse=False, h0=None):
    """The recurrence by definition, in float64."""
    a = np.broadcast_to(a.astype("complex128"), b.shape)
    x = np.zeros(b.shape, "complex128")
    h = np.zeros((b.shape[0], b.shape[2])) if h0 is None else h0.astype("complex128")
    steps = range(b.shape[1] - 1, -1, -1) if reverse else range(b.shape[1])
    for k in steps:
        h = a[:, k] * h + b[:, k]
        x[:, k] = h
    return x


def relative_error(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def numpy_out(result):
    x, final = result
    return ops.convert_to_numpy(x), ops.convert_to_numpy(final)


CASES = [
    pytest.param(v, r, i, id=f"{'varying' if v else 'invariant'}-{'rev' if r else 'fwd'}-{'h0' if i else 'zero'}")
    for v in (False, True)
    for r in (False, True)
    for i in (False, True)
]


# --- (a) the reference is right ------------------------------------------------


@pytest.mark.parametrize("length", [1, 7, 64, 1000])
@pytest.mark.parametrize("varying, reverse, with_h0", CASES)
def test_reference_equals_numpy_recurrence(length, varying, reverse, with_h0):
    a, b, h0 = data(length, varying)
    h0 = h0 if with_h0 else None
    x, final = numpy_out(reference.linear_scan(a, b, reverse, h0))
    expected = numpy_scan(a, b, reverse, h0)
    assert x.dtype == np.complex64 and x.shape == b.shape
    assert relative_error(x, expected) <= 1e-5
    np.testing.assert_array_equal(final, x[:, 0] if reverse else x[:, -1])


# --- (b) the fast path equals the reference, values and gradients -------------


def scan_loss(fn, reverse, varying, w):
    """A real loss of the states and the final state, of the (re, im) parts."""

    def loss(a_re, a_im, b_re, b_im, h_re, h_im):
        def c(re, im):
            return ops.cast(re, "complex64") + ops.cast(im, "complex64") * 1j

        x, final = fn(c(a_re, a_im), c(b_re, b_im), reverse, c(h_re, h_im))
        return ops.sum(ops.multiply(ops.real(x), w[0]) + ops.multiply(ops.imag(x), w[1])) + ops.sum(
            ops.multiply(ops.real(final), w[2]) + ops.multiply(ops.imag(final), w[3])
        )

    return loss


def split(*arrays):
    return [part.astype("float32") for z in arrays for part in (z.real, z.imag)]


@pytest.mark.parametrize("length", [1, 7, 100, 1000])
@pytest.mark.parametrize("varying, reverse, with_h0", CASES)
def test_fast_path_equals_reference(length, varying, reverse, with_h0):
    a, b, h0 = data(length, varying, seed=1)
    h0 = h0 if with_h0 else None
    x, final = numpy_out(ssm_ops.linear_scan(a, b, reverse, h0))
    ref_x, _ = numpy_out(reference.linear_scan(a, b, reverse, h0))
    assert x.dtype == np.complex64 and x.shape == b.shape
    assert relative_error(x, ref_x) <= 1e-5
    assert relative_error(x, numpy_scan(a, b, reverse, h0)) <= 1e-5
    np.testing.assert_array_equal(final, x[:, 0] if reverse else x[:, -1])


@pytest.mark.parametrize("length", [1, 7, 100, 1000])
@pytest.mark.parametrize("varying, reverse", [(v, r) for v in (False, True) for r in (False, True)])
def test_fast_path_gradients_equal_reference(length, varying, reverse):
    a, b, h0 = data(length, varying, seed=2)
    rng = np.random.default_rng(3)
    w = [rng.standard_normal(s).astype("float32") for s in [b.shape] * 2 + [h0.shape] * 2]
    args = split(a, b, h0)
    value, grads = value_and_grad(scan_loss(ssm_ops.linear_scan, reverse, varying, w), *args)
    ref_value, ref_grads = value_and_grad(scan_loss(reference.linear_scan, reverse, varying, w), *args)
    assert abs(value - ref_value) <= 1e-4 * max(1.0, abs(ref_value))
    names = ["a.re", "a.im", "b.re", "b.im", "h0.re", "h0.im"]
    for name, g, ref_g, arg in zip(names, grads, ref_grads, args):
        assert g.shape == arg.shape, name
        assert relative_error(g, ref_g) <= 3e-5, name


def test_gradients_against_finite_differences():
    """The reference's gradients themselves, on a tiny float64-checked case."""
    a, b, h0 = data(5, True, seed=4, batch=2, width=2)
    w = [np.ones((2, 5, 2), "float32"), np.zeros((2, 5, 2), "float32")] + [np.ones((2, 2), "float32")] * 2
    args = split(a, b, h0)
    _, grads = value_and_grad(scan_loss(ssm_ops.linear_scan, False, True, w), *args)

    def loss64(args):
        z = [args[i] + 1j * args[i + 1] for i in (0, 2, 4)]
        x = numpy_scan(*z[:2], False, z[2])
        return np.sum(x.real * w[0] + x.imag * w[1]) + np.sum(x[:, -1].real * w[2] + x[:, -1].imag * w[3])

    base = [np.asarray(x, "float64") for x in args]
    for i, g in enumerate(grads):
        num = np.zeros_like(base[i])
        for idx in np.ndindex(base[i].shape):
            up = [x.copy() for x in base]
            down = [x.copy() for x in base]
            up[i][idx] += 1e-6
            down[i][idx] -= 1e-6
            num[idx] = (loss64(up) - loss64(down)) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-4)


# --- (c), (d) final state and carrying it across calls -------------------------


@pytest.mark.parametrize("varying", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_two_halves_with_carried_state_equal_one_call(varying, reverse, impl):
    fn = ssm_ops.linear_scan if impl == "fast" else reference.linear_scan
    a, b, h0 = data(37, varying, seed=5)
    x, final = numpy_out(fn(a, b, reverse, h0))
    np.testing.assert_array_equal(final, x[:, 0] if reverse else x[:, -1])
    m = 20

    def part(sl, h):
        return numpy_out(fn(a[:, sl] if varying else a, b[:, sl], reverse, h))

    if reverse:  # the second half runs first
        x2, h_mid = part(slice(m, None), h0)
        x1, h_end = part(slice(None, m), h_mid)
    else:
        x1, h_mid = part(slice(None, m), h0)
        x2, h_end = part(slice(m, None), h_mid)
    np.testing.assert_allclose(np.concatenate([x1, x2], axis=1), x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_end, final, rtol=1e-5, atol=1e-5)


def test_docstring_example():
    a = np.array([0.5 + 0j], "complex64")
    x, last = numpy_out(ssm_ops.linear_scan(a, np.ones((1, 3, 1), "complex64")))
    assert x.real[0, :, 0].tolist() == [1.0, 1.5, 1.75]
    assert last.real.tolist() == [[1.75]]


# --- (e) compiled / graph mode, unknown length ---------------------------------


@pytest.mark.parametrize("varying", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_compiled_with_unknown_length(varying, reverse):
    a, b, h0 = data(45, varying, seed=6)
    expected = numpy_scan(a, b, reverse, h0)
    if BACKEND == "jax":
        import jax

        x, final = jax.jit(ssm_ops.linear_scan, static_argnums=2)(a, b, reverse, h0)
        # keras' shape inference traces with a symbolic length.
        dims = jax.export.symbolic_shape("batch, length")
        spec = jax.ShapeDtypeStruct((*dims, WIDTH), "complex64")
        a_spec = spec if varying else jax.ShapeDtypeStruct((WIDTH,), "complex64")
        out = jax.eval_shape(lambda a, b: ssm_ops.linear_scan(a, b, reverse), a_spec, spec)
        assert out[0].shape == spec.shape and out[1].shape == (dims[0], WIDTH)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, None, WIDTH), tf.complex64)
        a_spec = spec if varying else tf.TensorSpec((WIDTH,), tf.complex64)

        @tf.function(input_signature=[a_spec, spec, tf.TensorSpec((None, WIDTH), tf.complex64)])
        def run(a, b, h0):
            x, final = ssm_ops.linear_scan(a, b, reverse, h0)
            assert x.shape.as_list() == [None, None, WIDTH]
            return x, final

        x, final = run(a, b, h0)
        # A known length with an unknown batch keeps the static length.
        known = tf.TensorSpec((None, 45, WIDTH), tf.complex64)
        traced = []

        @tf.function(input_signature=[known if varying else a_spec, known])
        def run_known(a, b):
            x = ssm_ops.linear_scan(a, b, reverse)[0]
            traced.append(x.shape.as_list())
            return x

        run_known.get_concrete_function()
        assert traced == [[None, 45, WIDTH]]
    else:  # torch runs eagerly: nothing is compiled
        x, final = ssm_ops.linear_scan(a, b, reverse, h0)
    x, final = ops.convert_to_numpy(x), ops.convert_to_numpy(final)
    assert relative_error(x, expected) <= 1e-5
    np.testing.assert_array_equal(final, x[:, 0] if reverse else x[:, -1])


@pytest.mark.parametrize("varying", [False, True])
def test_compiled_gradients_with_unknown_length(varying):
    a, b, h0 = data(45, varying, seed=7)
    rng = np.random.default_rng(8)
    w = [rng.standard_normal(s).astype("float32") for s in [b.shape] * 2 + [h0.shape] * 2]
    args = split(a, b, h0)
    ref_value, ref_grads = value_and_grad(scan_loss(reference.linear_scan, False, varying, w), *args)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        loss = scan_loss(ssm_ops.linear_scan, False, varying, w[:2] + w[2:])
        t_spec = tf.TensorSpec((None, None, WIDTH), tf.float32)
        p_spec = t_spec if varying else tf.TensorSpec((WIDTH,), tf.float32)
        h_spec = tf.TensorSpec((None, WIDTH), tf.float32)

        @tf.function(input_signature=[p_spec] * 2 + [t_spec] * 2 + [h_spec] * 2)
        def step(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                value = loss(*xs)
            return value, tape.gradient(value, xs)

        value, grads = step(*[tf.constant(x) for x in args])
        value, grads = value.numpy(), [g.numpy() for g in grads]
    else:  # jax.jit retraces per shape; torch is eager
        loss = scan_loss(ssm_ops.linear_scan, False, varying, w)
        value, grads = value_and_grad(loss, *args, jit=True)
    assert abs(value - ref_value) <= 1e-4 * max(1.0, abs(ref_value))
    for g, ref_g in zip(grads, ref_grads):
        assert relative_error(g, ref_g) <= 3e-5


def test_associative_path_of_jax():
    """The jax path for accelerators (unused on this CPU) is right too."""
    if BACKEND != "jax":
        return
    from keras_ssm.ops import jax as jax_ops

    for varying in (False, True):
        for reverse in (False, True):
            a, b, h0 = data(33, varying, seed=9)
            x, final = jax_ops._associative_linear_scan(a, b, reverse, h0)
            assert relative_error(x, numpy_scan(a, b, reverse, h0)) <= 1e-5
            np.testing.assert_array_equal(final, x[:, 0] if reverse else x[:, -1])


class _Decay(keras.layers.Layer):
    """A trainable decay, scanned: enough to run `fit` through linear_scan."""

    def build(self, input_shape):
        self.log_r = self.add_weight(shape=(input_shape[-1],), initializer="zeros")
        self.theta = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, u):
        r = ops.sigmoid(self.log_r)
        a = ops.cast(r * ops.cos(self.theta), "complex64") + ops.cast(r * ops.sin(self.theta), "complex64") * 1j
        x, _ = ssm_ops.linear_scan(a, ops.cast(u, "complex64"))
        return ops.real(x)


def test_fit_with_unknown_length():
    """Symbolic build with `Input(shape=(None, F))` and default `fit`."""
    inputs = keras.Input(shape=(None, WIDTH))
    outputs = _Decay()(inputs)
    assert tuple(outputs.shape) == (None, None, WIDTH)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(10)
    u = rng.standard_normal((8, 30, WIDTH)).astype("float32")
    before = [np.array(v) for v in model.get_weights()]
    history = model.fit(u, 0.5 * u, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(b, a) for b, a in zip(before, model.get_weights()))


@pytest.mark.parametrize("chunk", [2, 3, 16])
@pytest.mark.parametrize("varying", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_chunked_scan_any_chunk_size(chunk, varying, reverse):
    """`keras_ssm.ops.chunked` (TF and torch's fast path) in plain keras.ops,
    at chunk sizes other than the default: padding and several recursion levels."""
    from keras_ssm.ops import chunked

    for length in (1, 5, 50):
        a, b, h0 = data(length, varying, seed=11)
        args = [ops.convert_to_tensor(v) for v in (a, b, h0)]
        x = ops.convert_to_numpy(chunked.forward(*args, reverse, chunk))
        assert relative_error(x, numpy_scan(a, b, reverse, h0)) <= 1e-5
