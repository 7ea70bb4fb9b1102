"""Discretization of a diagonal continuous-time SSM `x' = Λx + Bu`.

With step `Δ` (DESIGN.md, canonical form):
- ZOH: `Λ̄ = exp(ΛΔ)`, `B̄ = (Λ̄ − 1)/Λ · B`;
- bilinear: `Λ̄ = (1 + ΔΛ/2)/(1 − ΔΛ/2)`, `B̄ = Δ/(1 − ΔΛ/2) · B`;
then `x_k = Λ̄ x_{k−1} + B̄ u_k`.
"""

import keras
from keras import ops

from keras_ssm.ops import to_complex

DISCRETIZATIONS = ("zoh", "bilinear")


def discretize(lam, step, method):
    """Discretize diagonal eigenvalues.

    Args:
        lam: complex64 `Λ`, any shape.
        step: float32 `Δ`, broadcastable to `lam`.
        method: `"zoh"` or `"bilinear"`.

    Returns:
        `(log_lam_bar, b_scale)`: complex64 `log Λ̄` (what the Vandermonde
        kernel exponentiates; `Λ̄ = exp(log_lam_bar)`) and the factor with
        `B̄ = b_scale · B`, both shaped like `lam`.

    Example:
    >>> import numpy as np
    >>> log_z, b = discretize(np.array([-1 + 0j], "complex64"), np.float32(0.5), "zoh")
    >>> float(np.exp(np.real(keras.ops.convert_to_numpy(log_z)))[0]).__round__(4)
    0.6065
    """
    lam = ops.convert_to_tensor(lam, "complex64")
    # Real times complex part by part: a cast of the step to complex has a
    # complex -> float cast as its gradient, which TF logs as a warning.
    step = ops.cast(step, "float32")
    dt_lam = to_complex(ops.real(lam) * step, ops.imag(lam) * step)
    if method == "zoh":
        return dt_lam, complex_expm1(dt_lam) / lam
    half = 0.5 * dt_lam
    w = 1.0 - half  # step / w = step * conj(w) / |w|^2
    scale = step / (ops.square(ops.real(w)) + ops.square(ops.imag(w)))
    return complex_log1p(half) - complex_log1p(-half), to_complex(scale * ops.real(w), -scale * ops.imag(w))


def complex_expm1(z):
    """`exp(z) − 1` without cancellation for small `|z|` (ZOH's `B̄` at tiny
    steps): `expm1(a) cos b − 2 sin²(b/2) + i eᵃ sin b` for `z = a + ib`.

    >>> import numpy as np
    >>> z = np.array([1e-5 + 1e-5j], "complex64")
    >>> bool(np.allclose(keras.ops.convert_to_numpy(complex_expm1(z)), np.expm1(z.astype("complex128")), rtol=1e-6))
    True
    """
    a, b = ops.real(z), ops.imag(z)
    re = ops.expm1(a) * ops.cos(b) - 2.0 * ops.square(ops.sin(0.5 * b))
    return to_complex(re, ops.exp(a) * ops.sin(b))


def complex_log1p(z):
    """`log(1 + z)` without cancellation for small `|z|` (the bilinear
    `log Λ̄` at tiny steps): `½ log1p(2a + a² + b²) + i atan2(b, 1 + a)`.

    >>> import numpy as np
    >>> z = np.array([-1e-5 + 2e-5j], "complex64")
    >>> bool(np.allclose(keras.ops.convert_to_numpy(complex_log1p(z)), np.log1p(z.astype("complex128")), rtol=1e-6))
    True
    """
    a, b = ops.real(z), ops.imag(z)
    return to_complex(0.5 * ops.log1p(2.0 * a + a * a + b * b), ops.arctan2(b, 1.0 + a))
