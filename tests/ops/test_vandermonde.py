import numpy as np
import pytest
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops import kernel, reference
from tests.grad_utils import value_and_grad


def spectrum(h=3, n=5, seed=0):
    rng = np.random.default_rng(seed)
    log_z = -rng.uniform(0.001, 0.3, (h, n)) + 1j * rng.uniform(-3, 3, (h, n))
    coef = rng.standard_normal((h, n)) + 1j * rng.standard_normal((h, n))
    return log_z, coef


@pytest.mark.parametrize("length", [1, 2, 7, 64, 1000, 4097])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_equals_numpy_vandermonde(length, impl):
    log_z, coef = spectrum()
    expected = np.real(np.sum(coef[..., None] * np.exp(log_z[..., None] * np.arange(length)), axis=1))
    fn = ssm_ops.vandermonde if impl == "fast" else reference.vandermonde
    k = ops.convert_to_numpy(fn(log_z.astype("complex64"), coef.astype("complex64"), length))
    assert k.shape == (3, length)
    np.testing.assert_allclose(k, expected, atol=2e-5 * np.abs(expected).max())


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_stacked_coefficients_share_the_modes(impl):
    # Several kernels of the same modes in one call (DSS: directions and
    # decaying / growing parts): coef (K, H, N) with log_z (H, N). (Phases
    # reach 900 rad here: float32 keeps the powers to ~2e-5 of the maximum.)
    log_z, _ = spectrum()
    coefs = np.stack([spectrum(seed=s)[1] for s in (1, 2, 3)])
    fn = ssm_ops.vandermonde if impl == "fast" else reference.vandermonde
    k = ops.convert_to_numpy(fn(log_z.astype("complex64"), coefs.astype("complex64"), 300))
    assert k.shape == (3, 3, 300)
    powers = np.exp(log_z[..., None] * np.arange(300))
    for i, coef in enumerate(coefs):
        expected = np.real(np.sum(coef[..., None] * powers, axis=1))
        np.testing.assert_allclose(k[i], expected, atol=5e-5 * np.abs(expected).max())


def test_fast_path_gradients_equal_reference():
    log_z, coef = spectrum(seed=1)
    w = np.random.default_rng(3).standard_normal((3, 500)).astype("float32")

    def loss(fn):
        def f(zr, zi, cr, ci):
            z = ops.cast(zr, "complex64") + 1j * ops.cast(zi, "complex64")
            c = ops.cast(cr, "complex64") + 1j * ops.cast(ci, "complex64")
            return ops.sum(ops.multiply(fn(z, c, 500), w))

        return f

    args = [a.astype("float32") for a in (log_z.real, log_z.imag, coef.real, coef.imag)]
    fast_value, fast_grads = value_and_grad(loss(ssm_ops.vandermonde), *args)
    ref_value, ref_grads = value_and_grad(loss(reference.vandermonde), *args)
    np.testing.assert_allclose(fast_value, ref_value, rtol=1e-4)
    for fast, ref in zip(fast_grads, ref_grads):
        np.testing.assert_allclose(fast, ref, atol=1e-3 * np.abs(ref).max(), rtol=1e-3)


def test_chunk_bounds_memory():
    # The split holds N (T + L/T) powers instead of N L.
    for length in (1024, 4096, 16384):
        t = kernel.chunk_size(length)
        assert t + -(-length // t) <= 3 * int(np.sqrt(length))
