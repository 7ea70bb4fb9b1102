"""The SSM layers in real arithmetic: no complex dtype and no FFT, for export.

Every exporter breaks on the FFT and the complex numbers of the fast paths
(ONNX Runtime has no complex type, LiteRT no FFT). A diagonal SSM does not
need them once trained:

- an S4D / DSS kernel computed once is a depthwise causal convolution,
  `y_k = Σ_j K_j u_{k−j}`;
- a complex mode `z = r e^{iθ}` acts on `(Re x, Im x)` as a real 2×2
  rotation-and-decay, so S5's states are a depthwise convolution of
  `(Re B̄u, Im B̄u)` with the taps `(Re z^t, Im z^t)`, and a chunk that starts
  from a state adds `Re(C z^{k+1} x_0)` (the S4D paper's eq. 5 and the S5
  paper's eq. 6-7, written out in real and imaginary parts).

The constants (kernels, powers of `Λ̄`) are computed in numpy from the
layer's current weights when the graph is built, eagerly even inside a
`tf.function` trace (`tf.init_scope`; under `jax.jit` or `torch.export`, from
an eager call made first), and enter the exported graph as constants: an
export is a frozen, inference-only model. A layer runs this
way while `layer.real_arithmetic` is True (`keras_ssm.export.real_arithmetic`).
"""

import weakref

import keras
import numpy as np
from keras import ops


# Constants per layer and key, kept while `real_arithmetic` is open: a trace
# that cannot read variables (jax.jit, torch.export) finds those of an
# eager warm-up call.
_CONSTANTS = weakref.WeakKeyDictionary()


def open_cache(layer):
    """Opens `layer`'s cache; False if it was open already (a nested context)."""
    if layer in _CONSTANTS:
        return False
    _CONSTANTS[layer] = {}
    return True


def close_cache(layer):
    _CONSTANTS.pop(layer, None)


def constants(layer, key, fn):
    """`fn()`'s tensors as numpy (None stays None), computed eagerly: outside
    any `tf.function` trace, or once per `key` while the cache is open."""
    cache = _CONSTANTS.get(layer)
    if cache is not None and key in cache:
        return cache[key]

    def run():
        return keras.tree.map_structure(lambda t: None if t is None else ops.convert_to_numpy(t), fn())

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():
            value = run()
    else:
        value = run()
    if cache is not None:
        cache[key] = value
    return value


def static_length(u):
    length = u.shape[1]
    if length is None:
        raise ValueError(
            "Real arithmetic (export) needs a fixed sequence length: the kernels are "
            "computed once for it. Give the input a static length (e.g. `--length N`)."
        )
    return int(length)


def _conv(u, taps, pad):
    """Correlation of `u` `(batch, L, C)` with `taps` `(C, T)` or `(C, T, M)`
    (M outputs per channel) after zero-padding `pad = (before, after)` steps."""
    taps = np.asarray(taps, np.float32)
    if taps.ndim == 2:
        taps = taps[..., None]
    kernel = np.ascontiguousarray(np.transpose(taps, (1, 0, 2)))  # (T, C, M)
    x = ops.pad(u, [[0, 0], list(pad), [0, 0]])
    return ops.depthwise_conv(x, kernel, strides=1, padding="valid")


def causal_conv(u, taps):
    """`y_k = Σ_{j<T} taps[c, j] u_{k−j}`: `(batch, L, C)` → `(batch, L, C·M)`.

    >>> import numpy as np
    >>> u = np.zeros((1, 4, 1), "float32"); u[0, 0, 0] = 1.0
    >>> keras.ops.convert_to_numpy(causal_conv(u, np.array([[1.0, 0.5]])))[0, :, 0].tolist()
    [1.0, 0.5, 0.0, 0.0]
    """
    t = np.shape(taps)[1]
    return _conv(u, np.flip(taps, axis=1), (t - 1, 0))


def anticausal_conv(u, taps):
    """`y_k = Σ_{j<T} taps[c, j] u_{k+j}` (the current step and the future)."""
    t = np.shape(taps)[1]
    return _conv(u, taps, (0, t - 1))


def complex_conv(re, im, powers, reverse=False):
    """States `x_k = Σ_j z^{k−j} v_j` (or `Σ_{j≥k} z^{j−k} v_j` with `reverse`)
    of complex modes `z`, from `v = re + i im` `(batch, L, P)` and the taps
    `powers = z^t` `(P, T)` complex: returns `(Re x, Im x)`, each `(batch, L, P)`.

    One depthwise convolution of the `2P` channels `[Re v, Im v]`, two outputs
    each: `Re v` feeds `(Re z^t, Im z^t)`, `Im v` feeds `(−Im z^t, Re z^t)`.
    """
    modes = powers.shape[0]
    taps = np.concatenate(
        [np.stack([powers.real, powers.imag], -1), np.stack([-powers.imag, powers.real], -1)]
    )
    v = ops.concatenate([re, im], axis=-1)
    x = (anticausal_conv if reverse else causal_conv)(v, taps)
    x = ops.sum(ops.reshape(x, (-1, x.shape[1], 2, modes, 2)), axis=2)
    return x[..., 0], x[..., 1]


def toeplitz(taps):
    """Causal taps `(C, T)` (numpy) as matrices `(C, T, T)`, `[c, j, k] =
    taps[c, k − j]` for `k ≥ j` and 0 above: `u @ toeplitz(taps)[c]` is
    `causal_conv` of `T` steps. Gathered in the graph from the taps, so that
    an export stores `C · T` numbers, not `C · T²`.

    >>> keras.ops.convert_to_numpy(toeplitz(np.array([[1.0, 0.5]])))[0].tolist()
    [[1.0, 0.5], [0.0, 1.0]]
    """
    t = np.shape(taps)[1]
    lag = np.arange(t)[None, :] - np.arange(t)[:, None]  # k − j; above the diagonal, the appended 0
    table = np.concatenate([taps, np.zeros_like(taps[:, :1])], axis=1).astype(np.float32)
    return ops.take(ops.convert_to_tensor(table), np.where(lag >= 0, lag, t).astype(np.int32), axis=1)


def mode_transfer(log_z, length):
    """Each mode's chunk of `length` steps as one real matrix `(P, 2C, 2C)`:
    `[Re v_0 … v_{C−1}, Im v_0 … v_{C−1}] @ transfer[p]` gives
    `[Re x_0 … x_{C−1}, Im x_0 … x_{C−1}]`, `x_k = Σ_{j≤k} z^{k−j} v_j` (the
    rows and columns of real and imaginary parts, as `rotate`), from the
    Toeplitz matrices of the powers `z^t`.

    >>> z = np.array([0.5 + 0.5j])
    >>> v = np.array([1.0 + 2.0j, -1.0 + 0.5j])
    >>> out = np.concatenate([v.real, v.imag]) @ keras.ops.convert_to_numpy(mode_transfer(np.log(z), 2))[0]
    >>> x = [v[0], z[0] * v[0] + v[1]]
    >>> bool(np.allclose(out, np.concatenate([np.real(x), np.imag(x)]), atol=1e-6))
    True
    """
    taps = powers(log_z, length)
    re, im = toeplitz(taps.real), toeplitz(taps.imag)
    return ops.concatenate([ops.concatenate([re, im], axis=2), ops.concatenate([-im, re], axis=2)], axis=1)


def powers(log_z, length, start=0):
    """`z^t` for `t = start, ..., start + length − 1`: `(..., length)` complex64."""
    t = np.arange(start, start + length)
    return np.exp(log_z[..., None].astype(np.complex128) * t).astype(np.complex64)


def rotate(z, re, im):
    """`(Re, Im)` of `z · (re + i im)`: a numpy complex `z`, real tensors `re`, `im`."""
    a, b = ops.convert_to_tensor(z.real), ops.convert_to_tensor(z.imag)
    return a * re - b * im, a * im + b * re
