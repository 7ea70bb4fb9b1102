"""Fast paths of `keras_ssm.ops` for the tensorflow backend."""

import tensorflow as tf

from keras_ssm.ops.kernel import vandermonde  # noqa: F401
from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    length = u.shape[1]
    if length is None:
        raise ValueError(
            "fft_conv needs a static sequence length on TensorFlow; got an unknown "
            "length in graph mode. Call the layer eagerly or give the Input a length."
        )
    n = fft_length(length)
    k = tf.signal.rfft(circular_kernel(kernel, kernel_backward, n), fft_length=[n])
    # tf.signal transforms the innermost axis only.
    x = tf.signal.rfft(tf.transpose(tf.cast(u, tf.float32), (0, 2, 1)), fft_length=[n])
    y = tf.signal.irfft(x * k[None], fft_length=[n])[..., :length]
    return tf.cast(tf.transpose(y, (0, 2, 1)), u.dtype)


# --- linear recurrence (linear_scan) ---
