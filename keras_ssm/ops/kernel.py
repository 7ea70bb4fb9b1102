"""The Vandermonde kernel of a diagonal SSM in `O(N (T + L/T))` memory.

`K_l = Re sum_n c_n z_n^l` is split at `l = qT + r` into
`z^l = z^(qT) z^r`, so the kernel is a real matrix product
`K[q, r] = Re sum_n (c_n z_n^(qT)) z_n^r`. With `T ~ sqrt(L)` it takes
`N (T + L/T)` complex exponentials instead of the `N L` of the naive kernel
(the cost that dominates S4D and DSS on CPU), and never holds `(N, L)`.
"""

import math

from keras import ops

# The inner block when the length is only known at run time (TF graphs).
DYNAMIC_CHUNK = 64


def chunk_size(length):
    """The power of two nearest `sqrt(length)`: the inner block of the split."""
    if not isinstance(length, int):
        return DYNAMIC_CHUNK
    return 2 ** max(0, round(math.log2(max(length, 1)) / 2))


def vandermonde(log_z, coef, length):
    t = chunk_size(length)
    q = (length + t - 1) // t
    cdtype = log_z.dtype
    inner = ops.exp(log_z[..., None] * ops.cast(ops.arange(t), cdtype))
    outer = coef[..., None] * ops.exp(log_z[..., None] * ops.cast(ops.arange(q) * t, cdtype))
    # Only the real part is needed, Re(a b) = Re a Re b - Im a Im b: one real
    # matmul over the 2N stacked parts. Leading axes of `coef` beyond those of
    # `log_z` (several kernels of the same modes) share `inner`.
    a = ops.concatenate([ops.real(outer), -ops.imag(outer)], axis=-2)
    b = ops.concatenate([ops.real(inner), ops.imag(inner)], axis=-2)
    k = ops.matmul(ops.swapaxes(a, -1, -2), b)
    k = ops.reshape(k, (*ops.shape(k)[:-2], q * t))
    return k[..., :length]
