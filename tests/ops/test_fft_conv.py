import keras
import numpy as np
import pytest
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops import reference
from tests.grad_utils import value_and_grad


def direct(u, k, k_back=None):
    """Causal (and strictly-future backward) convolution by definition."""
    batch, length, h = u.shape
    y = np.zeros((batch, length, h))
    for t in range(length):
        for s in range(t + 1):
            y[:, t] += k[:, t - s] * u[:, s]
        if k_back is not None:
            for s in range(t + 1, length):
                y[:, t] += k_back[:, s - t - 1] * u[:, s]
    return y


def data(length, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((2, length, 3)).astype("float32"),
        rng.standard_normal((3, length)).astype("float32"),
        rng.standard_normal((3, length)).astype("float32"),
    )


@pytest.mark.parametrize("length", [1, 2, 17, 64])
@pytest.mark.parametrize("two_sided", [False, True])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_equals_direct_convolution(length, two_sided, impl):
    u, k, kb = data(length)
    fn = ssm_ops.fft_conv if impl == "fast" else reference.fft_conv
    y = ops.convert_to_numpy(fn(u, k, kb if two_sided else None))
    np.testing.assert_allclose(y, direct(u, k, kb if two_sided else None), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("two_sided", [False, True])
def test_fast_path_values_and_gradients_equal_reference(two_sided):
    u, k, kb = data(300, seed=1)
    w = np.random.default_rng(2).standard_normal((2, 300, 3)).astype("float32")

    def loss(conv):
        def fn(u, k, kb):
            return ops.sum(ops.multiply(conv(u, k, kb if two_sided else None), w))

        return fn

    fast_value, fast_grads = value_and_grad(loss(ssm_ops.fft_conv), u, k, kb)
    ref_value, ref_grads = value_and_grad(loss(reference.fft_conv), u, k, kb)
    np.testing.assert_allclose(fast_value, ref_value, rtol=1e-4)
    for fast, ref in zip(fast_grads, ref_grads):
        np.testing.assert_allclose(fast, ref, atol=1e-3, rtol=1e-4)


def test_mixed_precision_runs_in_float32_and_casts_back():
    u, k, _ = data(128)
    y = ssm_ops.fft_conv(ops.cast(u, "bfloat16"), k)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(y, "float32")), direct(u, k), atol=0.1, rtol=0.05)


def test_fft_length_never_wraps():
    for length in (1, 3, 4, 1000, 4096):
        n = reference.fft_length(length)
        assert n >= 2 * length and n & (n - 1) == 0


def test_many_channels_equal_reference():
    # Enough channels that the torch path computes its spectra in several
    # channel chunks (8 MiB each: 128 channels of batch 2 at L 4096).
    rng = np.random.default_rng(4)
    u = rng.standard_normal((2, 4096, 130)).astype("float32")
    k = (rng.standard_normal((130, 4096)) * np.exp(-np.arange(4096) / 500)).astype("float32")
    w = rng.standard_normal(u.shape).astype("float32")

    def loss(conv):
        return lambda u, k: ops.sum(ops.multiply(conv(u, k), w))

    fast_value, fast_grads = value_and_grad(loss(ssm_ops.fft_conv), u, k)
    ref_value, ref_grads = value_and_grad(loss(reference.fft_conv), u, k)
    np.testing.assert_allclose(fast_value, ref_value, rtol=1e-4)
    for fast, ref in zip(fast_grads, ref_grads):
        np.testing.assert_allclose(fast, ref, atol=1e-3 * np.abs(ref).max(), rtol=1e-4)
