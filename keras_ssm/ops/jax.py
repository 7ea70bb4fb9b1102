"""Fast paths of `keras_ssm.ops` for the jax backend."""

import functools

import jax
import jax.numpy as jnp

from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    # Along the time axis as it lies: FFTs of a swapped (B, H, L) view run
    # ~25 % faster on one CPU device, but XLA's CPU FFT then refuses the
    # non-default layout it assigns under a multi-device (sharded) program.
    length = u.shape[1]
    n = fft_length(length)
    k = jnp.fft.rfft(circular_kernel(kernel, kernel_backward, n), axis=-1)
    x = jnp.fft.rfft(u.astype(jnp.float32), n=n, axis=1)
    # k: (H, F) or, one kernel per example, (B, H, F); x: (B, F, H).
    y = jnp.fft.irfft(x * jnp.swapaxes(k, -1, -2), n=n, axis=1)[:, :length]
    return y.astype(u.dtype)


# --- linear recurrence (linear_scan) ---


def linear_scan(a, b, reverse=False, initial_state=None):
    """Sequential `jax.lax.scan` over time on CPU, where it beats
    `lax.associative_scan` 2.5x forward+backward at L=4096 (`benchmarks/scan.py`);
    the associative scan on GPU/TPU (not measured here), where a serial loop of
    tiny steps starves the device."""
    # (A symbolic length, as in keras' shape inference, needs lax.scan.)
    associative = jax.default_backend() != "cpu" and isinstance(b.shape[1], int)
    return _linear_scan(a, b, initial_state, reverse=reverse, associative=associative)


# One jitted function of arrays: an eager call with shapes seen before runs
# the executable in jax's cache, where a scan traced afresh per call (over a
# new step closure) was compiled again every time. Inside a trace it inlines.
@functools.partial(jax.jit, static_argnames=("reverse", "associative"))
def _linear_scan(a, b, h0, reverse, associative):
    a = jnp.asarray(a, jnp.complex64)
    b = jnp.asarray(b, jnp.complex64)
    if h0 is None:
        h0 = jnp.zeros((b.shape[0], b.shape[2]), jnp.complex64)
    else:
        h0 = jnp.asarray(h0, jnp.complex64)
    if associative:
        return _associative_linear_scan(a, b, reverse, h0)
    b_t = jnp.swapaxes(b, 0, 1)  # lax.scan runs over the leading axis
    if a.ndim == 1:
        xs = b_t

        def step(h, b_k):
            h = a * h + b_k
            return h, h

    else:
        xs = (jnp.swapaxes(a, 0, 1), b_t)

        def step(h, ab_k):
            h = ab_k[0] * h + ab_k[1]
            return h, h

    final_state, x = jax.lax.scan(step, h0, xs, reverse=reverse)
    return jnp.swapaxes(x, 0, 1), final_state


def _associative_linear_scan(a, b, reverse, h0):
    b = jnp.asarray(b, jnp.complex64)
    a = jnp.broadcast_to(jnp.asarray(a, jnp.complex64), b.shape)
    first = -1 if reverse else 0  # fold the initial state into the first step
    b = b.at[:, first].add(a[:, first] * h0)

    def combine(earlier, later):
        return later[0] * earlier[0], later[0] * earlier[1] + later[1]

    _, x = jax.lax.associative_scan(combine, (a, b), reverse=reverse, axis=1)
    return x, x[:, 0 if reverse else -1]
