"""Discretization of a diagonal continuous-time SSM `x' = Λx + Bu`.

With step `Δ` (DESIGN.md, canonical form):
- ZOH: `Λ̄ = exp(ΛΔ)`, `B̄ = (Λ̄ − 1)/Λ · B`;
- bilinear: `Λ̄ = (1 + ΔΛ/2)/(1 − ΔΛ/2)`, `B̄ = Δ/(1 − ΔΛ/2) · B`;
then `x_k = Λ̄ x_{k−1} + B̄ u_k`.
"""

import keras
from keras import ops

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
    dt_lam = lam * ops.cast(step, lam.dtype)
    if method == "zoh":
        return dt_lam, (ops.exp(dt_lam) - 1.0) / lam
    half = 0.5 * dt_lam
    return ops.log(1.0 + half) - ops.log(1.0 - half), ops.cast(step, lam.dtype) / (1.0 - half)
