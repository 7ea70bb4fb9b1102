"""Fast paths of `keras_ssm.ops` for the jax backend."""

import jax.numpy as jnp

from keras_ssm.ops.kernel import vandermonde  # noqa: F401
from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    length = u.shape[1]
    n = fft_length(length)
    k = jnp.fft.rfft(circular_kernel(kernel, kernel_backward, n), axis=-1)
    x = jnp.fft.rfft(u.astype(jnp.float32), n=n, axis=1)
    y = jnp.fft.irfft(x * k.T[None], n=n, axis=1)[:, :length]
    return y.astype(u.dtype)


# --- linear recurrence (linear_scan) ---
