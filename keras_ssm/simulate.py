"""Float64 numpy simulation of the canonical system of DESIGN.md.

`simulate(layer.ssm_parameters(), u)` runs `x_k = Λ̄ x_{k−1} + B̄ u_k`,
`y_k = Re(C x_k) + D u_k` step by step on the host. It shares no code with the
layers (it re-derives the discretization itself), which makes it the oracle of
the tests and of the demo, and a way to check an exported system.
"""

import keras
import numpy as np


def _discretize(lam, step, method):
    x = lam * step
    if method == "zoh":
        lam_bar = np.exp(x)
        return lam_bar, (lam_bar - 1.0) / lam
    if method == "bilinear":
        return (1 + x / 2) / (1 - x / 2), step / (1 - x / 2)
    raise AssertionError(method)


def siso(params, u, step_scale=1.0):
    """S4D / DSS: a bank of H SISO systems, `Lambda`, `B`, `C` of shape (H, N).

    The backward system (bidirectional) sees strictly future inputs.

    Example (ZOH with `Λ = -1`, `Δ = ln 2`: `Λ̄ = B̄ = 1/2`, a unit step
    response rising to the DC gain `-CB/Λ = 1`):
    >>> import numpy as np
    >>> params = {"Lambda": np.array([[-1 + 0j]]), "B": np.ones((1, 1)), "C": np.ones((1, 1)),
    ...           "D": np.zeros(1), "step": np.array([np.log(2.0)]), "discretization": "zoh"}
    >>> siso(params, np.ones((1, 4, 1)))[0, :, 0].round(6).tolist()
    [0.5, 0.75, 0.875, 0.9375]
    """
    u = np.asarray(u, np.float64)
    lam = params["Lambda"].astype(np.complex128)
    step = np.asarray(params["step"], np.float64) * step_scale
    if step.ndim == 1:
        step = step[:, None]
    lam_bar, b_scale = _discretize(lam, step, params["discretization"])
    b_bar = b_scale * params["B"]
    batch, length, _ = u.shape
    y = u * params["D"]
    x = np.zeros((batch,) + lam.shape, np.complex128)
    for k in range(length):
        x = lam_bar * x + b_bar * u[:, k, :, None]
        y[:, k] += np.real(np.sum(params["C"] * x, axis=-1))
    if "C_backward" in params:
        x = np.zeros_like(x)
        for k in range(length - 1, -1, -1):
            y[:, k] += np.real(np.sum(params["C_backward"] * x, axis=-1))
            x = lam_bar * x + b_bar * u[:, k, :, None]
    return y


def mimo(params, u, step_scale=1.0, timesteps=None):
    """S5: `Lambda` (P,), `B` (P, H), `C` (H, P); the step at position k is
    `step * step_scale * timesteps[:, k]`. The backward scan includes the
    current input; going back from k + 1 to k, it spans `timesteps[:, k + 1]`
    (1 after the last step) for both its `Λ̄` and `B̄`.

    Example (the system of `siso`'s example; the last step is twice as
    long, so `Λ̄ = 1/4` and `B̄ = 3/4` there):
    >>> import numpy as np
    >>> params = {"Lambda": np.array([-1 + 0j]), "B": np.ones((1, 1)), "C": np.ones((1, 1)),
    ...           "D": np.zeros(1), "step": np.array([np.log(2.0)]), "discretization": "zoh"}
    >>> mimo(params, np.ones((1, 3, 1)), timesteps=np.array([[1.0, 1.0, 2.0]]))[0, :, 0].round(6).tolist()
    [0.5, 0.75, 0.9375]
    """
    u = np.asarray(u, np.float64)
    batch, length, _ = u.shape
    lam = params["Lambda"].astype(np.complex128)
    timesteps = np.ones((batch, length)) if timesteps is None else np.asarray(timesteps, np.float64)
    step = np.asarray(params["step"], np.float64) * step_scale * timesteps[..., None]
    lam_bar, b_scale = _discretize(lam, step, params["discretization"])
    u_b = np.einsum("blh,ph->blp", u, params["B"].astype(np.complex128))
    y = u * params["D"]
    x = np.zeros((batch, lam.shape[0]), np.complex128)
    for k in range(length):
        x = lam_bar[:, k] * x + b_scale[:, k] * u_b[:, k]
        y[:, k] += np.real(x @ params["C"].T)
    if "C_backward" in params:
        shifted = np.concatenate([timesteps[:, 1:], np.ones((batch, 1))], axis=1)
        step = np.asarray(params["step"], np.float64) * step_scale * shifted[..., None]
        lam_bar, b_scale = _discretize(lam, step, params["discretization"])
        x = np.zeros_like(x)
        for k in range(length - 1, -1, -1):
            x = lam_bar[:, k] * x + b_scale[:, k] * u_b[:, k]
            y[:, k] += np.real(x @ params["C_backward"].T)
    return y


def simulate(params, u, step_scale=1.0, timesteps=None):
    """Runs the system `params` (from `ssm_parameters()`) over `u`.

    Args:
        params: the dict of `layer.ssm_parameters()`.
        u: `(batch, length, H)` array.
        step_scale: multiplies every step.
        timesteps: optional `(batch, length)` step multipliers (S5 only).

    Returns:
        `(batch, length, H)` float64 outputs.

    Example:
    >>> import numpy as np, keras_ssm
    >>> layer = keras_ssm.S4DLayer(state_dim=8, seed=0)
    >>> u = np.ones((1, 20, 3), "float32")
    >>> y = keras.ops.convert_to_numpy(layer(u))
    >>> bool(np.allclose(y, simulate(layer.ssm_parameters(), u), atol=1e-4))
    True
    """
    if np.ndim(params["Lambda"]) == 1:
        return mimo(params, u, step_scale, timesteps)
    if timesteps is not None:
        raise ValueError("`timesteps` is only defined for MIMO (S5) systems.")
    return siso(params, u, step_scale)
