"""Pure `keras.ops` versions of the hot operations: any backend, the oracle.

These are written for clarity, not speed: the Vandermonde kernel materialises
`(..., N, L)` and the scan works on real/imaginary pairs with
`keras.ops.associative_scan`. Every fast path in `keras_ssm.ops.<backend>` is
tested against them.
"""

from keras import ops


def fft_length(length):
    """The FFT size for a linear convolution of two length-`L` signals: the
    power of two at or above `2L`, so nothing wraps around. `length` may be a
    scalar tensor (a length known only at run time)."""
    if not isinstance(length, int):
        exponent = ops.ceil(ops.log2(ops.cast(2 * length, "float32")))
        return ops.cast(2.0**exponent, "int32")
    n = 1
    while n < 2 * length:
        n *= 2
    return n


def circular_kernel(kernel, kernel_backward, n):
    """The `(..., features, n)` circular kernel of a causal or two-sided
    convolution, for `(..., features, L)` kernels.

    Lags `0..L-1` hold `kernel`; with `kernel_backward`, lag `-d` (`d >= 1`)
    sits at index `n - d` and holds `kernel_backward[..., d - 1]`, so the
    backward part sees strictly future inputs. Needs `n >= 2L`.
    """
    kernel = ops.cast(kernel, "float32")
    length = ops.shape(kernel)[-1]
    leading = [(0, 0)] * (len(kernel.shape) - 1)
    if kernel_backward is None:
        return ops.pad(kernel, leading + [(0, n - length)])
    back = ops.flip(ops.cast(kernel_backward, "float32")[..., : length - 1], axis=-1)
    return ops.concatenate([ops.pad(kernel, leading + [(0, n - 2 * length + 1)]), back], axis=-1)


def fft_conv(u, kernel, kernel_backward=None):
    u = ops.convert_to_tensor(u)
    dtype = u.dtype
    length = ops.shape(u)[1]
    n = fft_length(length)
    # (batch, features, length): keras.ops.rfft transforms the last axis.
    x = ops.transpose(ops.cast(u, "float32"), (0, 2, 1))
    k = circular_kernel(kernel, kernel_backward, n)
    x_re, x_im = ops.rfft(x, fft_length=n)
    k_re, k_im = ops.rfft(k, fft_length=n)
    y = ops.irfft((x_re * k_re - x_im * k_im, x_re * k_im + x_im * k_re), fft_length=n)
    y = ops.transpose(y[..., :length], (0, 2, 1))
    return ops.cast(y, dtype)


def vandermonde(log_z, coef, length):
    log_z = ops.convert_to_tensor(log_z, "complex64")
    coef = ops.convert_to_tensor(coef, "complex64")
    powers = ops.exp(log_z[..., None] * ops.cast(ops.arange(length), log_z.dtype))
    return ops.real(ops.sum(coef[..., None] * powers, axis=-2))


# --- linear recurrence (linear_scan) ---


def _linear_combine(earlier, later):
    """`(a_i, b_i) o (a_j, b_j) = (a_j a_i, a_j b_i + b_j)` on (re, im) pairs:
    keras' associative_scan drops imaginary parts on torch, so stay real."""
    ar_i, ai_i, br_i, bi_i = earlier
    ar_j, ai_j, br_j, bi_j = later
    return (
        ar_j * ar_i - ai_j * ai_i,
        ar_j * ai_i + ai_j * ar_i,
        ar_j * br_i - ai_j * bi_i + br_j,
        ar_j * bi_i + ai_j * br_i + bi_j,
    )


def to_complex(re, im):
    return ops.cast(re, "complex64") + ops.cast(im, "complex64") * 1j


def linear_scan(a, b, reverse=False, initial_state=None):
    """keras' associative_scan along time on (re, im) pairs. Needs a static
    length on TF (keras' TF associative_scan fails on an unknown one)."""
    b = ops.convert_to_tensor(b, "complex64")
    a = ops.broadcast_to(ops.convert_to_tensor(a, "complex64"), ops.shape(b))
    if reverse:
        a, b = ops.flip(a, axis=1), ops.flip(b, axis=1)
    parts = (ops.real(a), ops.imag(a), ops.real(b), ops.imag(b))
    ar, ai, xr, xi = ops.associative_scan(_linear_combine, parts, axis=1)
    # (ar, ai) is the running product of a: it carries the initial state.
    x = to_complex(xr, xi)
    if initial_state is not None:
        h = ops.convert_to_tensor(initial_state, "complex64")[:, None, :]
        x = x + to_complex(ar, ai) * h
    if reverse:
        x = ops.flip(x, axis=1)
    # TF graph mode loses the static shape in associative_scan.
    x = ops.reshape(x, ops.shape(b))
    final_state = x[:, 0] if reverse else x[:, -1]
    return x, final_state
