"""Fast paths of `keras_ssm.ops` for the tensorflow backend."""

import functools

import tensorflow as tf

from keras_ssm.ops import chunked
from keras_ssm.ops.reference import circular_kernel, fft_length


def to_complex(re, im):
    # tf.complex's gradient takes the real and imaginary parts; the gradient
    # of a float -> complex cast is a complex -> float cast, which TF logs
    # ("discard the imaginary part") once per cast in every traced train step.
    return tf.complex(tf.cast(re, tf.float32), tf.cast(im, tf.float32))


def fft_conv(u, kernel, kernel_backward=None):
    # In a graph the length may be known only at run time.
    length = u.shape[1] if u.shape[1] is not None else tf.shape(u)[1]
    n = fft_length(length)
    k = tf.signal.rfft(circular_kernel(kernel, kernel_backward, n), fft_length=[n])
    # tf.signal transforms the innermost axis only.
    x = tf.signal.rfft(tf.transpose(tf.cast(u, tf.float32), (0, 2, 1)), fft_length=[n])
    y = tf.signal.irfft(x * k, fft_length=[n])[..., :length]  # k: (H, F) or (B, H, F)
    return tf.cast(tf.transpose(y, (0, 2, 1)), u.dtype)


# --- linear recurrence (linear_scan) ---


def linear_scan(a, b, reverse=False, initial_state=None, chunk=chunked.CHUNK):
    """`keras_ssm.ops.chunked` scan with its hand-written gradient (autodiff
    through the unrolled chunk loop is ~1.5x slower, `tf.scan`'s gradient
    ~40x). Works with an unknown length in graph mode."""
    a = tf.cast(a, tf.complex64)
    b = tf.cast(b, tf.complex64)
    if initial_state is None:
        h0 = tf.zeros_like(b[:, 0])
    else:
        h0 = tf.cast(initial_state, tf.complex64)
    x = _chunked_scan(bool(reverse), chunk)(a, b, h0)
    x = tf.ensure_shape(x, b.shape)  # reshapes inside lose the static batch
    return x, (x[:, 0] if reverse else x[:, -1])


@functools.lru_cache
def _chunked_scan(reverse, chunk):
    @tf.custom_gradient
    def scan(a, b, h0):
        x = chunked.forward(a, b, h0, reverse, chunk)

        def grad(grad_x):
            return chunked.backward(a, h0, x, grad_x, reverse, chunk)

        return x, grad

    return scan
