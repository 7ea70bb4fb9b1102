"""The hot operations of diagonal SSMs, dispatched on the Keras backend.

Three operations carry all the sequence mixing of the layers:

- `fft_conv(u, kernel, kernel_backward=None)`: causal (or two-sided) long
  convolution along time by FFT, zero-padded so nothing wraps around.
- `vandermonde(log_z, coef, length)`: the diagonal-SSM kernel
  `K_l = Re sum_n coef_n z_n^l`, computed without holding `(..., N, L)`.
- `linear_scan(a, b, reverse=False, initial_state=None)`: the diagonal linear
  recurrence `x_k = a_k * x_{k-1} + b_k` along time.

Each has a pure `keras.ops` version in `keras_ssm.ops.reference` (the oracle of
the tests) and a fast path: the backend module `keras_ssm.ops.<backend>` when it
defines one, as Keras dispatches to `keras/src/backend/<backend>/`, or, for
`vandermonde`, `keras_ssm.ops.kernel` in keras.ops for every backend.
Complex values are complex64 tensors; parameters stay real Keras variables.
"""

import importlib
import numbers

import keras

from keras_ssm.ops import kernel, reference

_BACKEND_MODULES = {
    "jax": "keras_ssm.ops.jax",
    "tensorflow": "keras_ssm.ops.tensorflow",
    "torch": "keras_ssm.ops.torch",
}


def _fast(name):
    module_name = _BACKEND_MODULES.get(keras.backend.backend())
    if module_name is not None:
        module = importlib.import_module(module_name)
        if hasattr(module, name):
            return getattr(module, name)
    return getattr(reference, name)


def to_complex(re, im):
    """The complex64 tensor `re + i im` from two real tensors of one shape.

    Every complex number the layers compute from their real parameters is
    assembled here. On torch it is `torch.complex`: the arithmetic form
    `cast(re) + cast(im) * 1j` gives wrong gradients under torch.compile
    (torch 2.13, Inductor), silently.

    Example:
    >>> import numpy as np
    >>> z = to_complex(np.array([1.0], "float32"), np.array([-2.0], "float32"))
    >>> keras.ops.convert_to_numpy(z).tolist()
    [(1-2j)]
    """
    return _fast("to_complex")(re, im)


def fft_conv(u, kernel, kernel_backward=None):
    """Long convolution along time by FFT.

    `y_t = sum_{s<=t} kernel[:, t-s] u_s`, plus, when `kernel_backward` is
    given, `sum_{s>t} kernel_backward[:, s-t-1] u_s` (strictly future inputs,
    as S4's bidirectional kernels). The FFT length is at least `2L`, so the
    circular convolution never wraps around. The FFT runs in float32 and the
    result is cast back to the dtype of `u` (mixed precision).

    Args:
        u: `(batch, length, features)` float tensor.
        kernel: `(features, length)` float tensor, or `(batch, features,
            length)` for one kernel per example (DSS-softmax under a mask).
        kernel_backward: optional, shaped like `kernel`.

    Returns:
        `(batch, length, features)`, the dtype of `u`.

    Example:
    >>> import numpy as np
    >>> u = np.zeros((1, 4, 1), "float32"); u[0, 0, 0] = 1.0
    >>> k = np.array([[1.0, 0.5, 0.25, 0.125]], "float32")
    >>> keras.ops.convert_to_numpy(fft_conv(u, k))[0, :, 0].round(3).tolist()
    [1.0, 0.5, 0.25, 0.125]
    """
    if kernel_backward is not None:
        kernel_backward = keras.ops.convert_to_tensor(kernel_backward)
    return _fast("fft_conv")(keras.ops.convert_to_tensor(u), keras.ops.convert_to_tensor(kernel), kernel_backward)


def vandermonde(log_z, coef, length):
    """The diagonal-SSM convolution kernel `K_l = Re sum_n coef_n exp(l log_z_n)`.

    With `log_z = log(Λ̄)` and `coef = C ⊙ B̄` this is the kernel of
    `x_k = Λ̄ x_{k-1} + B̄ u_k, y_k = Re(C x_k)` (S4D paper, eq. 5). Memory
    stays `O(N (T + L/T))` per feature on the fast paths, never `O(N L)`.

    Args:
        log_z: `(..., N)` complex64, the log of the discrete eigenvalues.
        coef: `(..., N)` complex64, broadcastable with `log_z`.
        length: int, the number of kernel taps `L`.

    Returns:
        `(..., L)` float32.

    Example:
    >>> import numpy as np
    >>> log_z = np.log(np.array([[0.5 + 0j]], "complex64"))
    >>> coef = np.ones((1, 1), "complex64")
    >>> keras.ops.convert_to_numpy(vandermonde(log_z, coef, 4)).round(4).tolist()
    [[1.0, 0.5, 0.25, 0.125]]
    """
    log_z = keras.ops.convert_to_tensor(log_z, "complex64")
    coef = keras.ops.convert_to_tensor(coef, "complex64")
    if isinstance(length, numbers.Integral):
        length = int(length)
    # One keras.ops implementation serves every backend (a split matmul, no
    # per-backend primitive beats it).
    return kernel.vandermonde(log_z, coef, length)


def linear_scan(a, b, reverse=False, initial_state=None):
    """The diagonal linear recurrence `x_k = a_k ⊙ x_{k-1} + b_k` along time.

    Args:
        a: complex64, `(P,)` (time-invariant) or `(batch, length, P)`.
        b: complex64, `(batch, length, P)`.
        reverse: run from the last step to the first
            (`x_k = a_k ⊙ x_{k+1} + b_k`).
        initial_state: optional `(batch, P)` complex64, the state before the
            first step taken (zeros when omitted).

    Returns:
        `(x, final_state)`: all states `(batch, length, P)` and the state
        after the last step taken, `(batch, P)` (for chunked streaming).

    Example:
    >>> import numpy as np
    >>> a = np.array([0.5 + 0j], "complex64")
    >>> b = np.ones((1, 3, 1), "complex64")
    >>> x, last = linear_scan(a, b)
    >>> np.real(keras.ops.convert_to_numpy(x))[0, :, 0].tolist()
    [1.0, 1.5, 1.75]
    """
    return _fast("linear_scan")(a, b, reverse, initial_state)
