"""S4D: the diagonal S4 layer (Gu, Gupta, Goel, Ré, NeurIPS 2022)."""

import keras
import numpy as np
from keras import ops

from keras_ssm import hippo
from keras_ssm.layers.base import KernelSSMLayer, check_choice, log_uniform, to_complex

REAL_TRANSFORMS = ("exp", "relu", "none", "softplus", "sigmoid")


@keras.saving.register_keras_serializable(package="keras_ssm")
class S4DLayer(KernelSSMLayer):
    """S4D: a bank of `H` diagonal state-space models computed by convolution.

    For each feature `h`, with `N/2` complex modes kept once for their
    conjugate pairs (S4D paper, eq. 5 and §3):

        x'(t) = Λ x(t) + B u(t),   y(t) = 2 Re(C x(t)) + D u(t),
        K_k = 2 Re Σ_n C_n B̄_n Λ̄_n^k,   y = K * u + D u,

    discretized per feature with the learned step `Δ_h` (ZOH or bilinear).
    `Re Λ = −f(a)` with `f` the `real_transform` (S4's `real_transform`):
    `exp`, `relu` (`relu(a) + 1e-4`), `softplus` (the default of S4's
    configs) and `sigmoid` (`Re Λ ∈ (−1, 0)`) keep the system stable by
    construction; `none` (`f(a) = a`) is clipped to `Re Λ ≤ −1e-4` (as S5's
    `clip_eigs`), so no mode ever grows.

    Inputs `(batch, length, H)` float, outputs the same shape; `length` may be
    `None`. Masked steps feed no input to the state and output zero.

    Args:
        state_dim: S4D's `N`: the layer keeps `N/2` complex modes per feature
            (their conjugates implied), so `N` must be even.
        init: `"legs"` (diagonal of the normal HiPPO-LegS, S4D-LegS), `"inv"`
            (S4D-Inv), `"lin"` (S4D-Lin) or `"random"` (S4D-Rand).
        discretization: `"zoh"` or `"bilinear"`.
        real_transform: `"exp"`, `"relu"`, `"softplus"`, `"sigmoid"` or
            `"none"`: how the stored parameter `a` maps to `−Re Λ`: `exp(a)`,
            `relu(a) + 1e-4`, `softplus(a)`, `sigmoid(a)` or `max(a, 1e-4)`
            (no gradient while clipped). `a` starts at the inverse of the
            init's `−Re Λ` (clamped to at least 1e-4, as S4 does).
        kernel_dropout: dropout rate on the kernel's taps in training (S4's
            `drop_kernel`).
        dt_min, dt_max: the range of the log-uniform initial steps `Δ_h`.
        bidirectional: add a backward SSM (shared `Λ`, `B`, `Δ`; its own `C`).
            As in the S4 reference, the backward kernel sees strictly future
            inputs, `y_t += Σ_{s>t} K^b_{s−t−1} u_s`, so the reference's
            bidirectional checkpoints convert one to one.
        seed: optional int for the initialisation.

    Call arguments:
        inputs: `(batch, length, H)`.
        mask: optional `(batch, length)` boolean (Keras masking).
        step_scale: positive float multiplying every step `Δ` (zero-shot
            change of sampling rate: 2.0 for 16 kHz → 8 kHz).

    Variables (the names of the official S4D code): `a_real` `(H, N/2)` holds
    `−Re Λ` through the inverse of `real_transform` (`Re Λ = −f(a_real)`),
    `a_imag` is `Im Λ`, `B_re`, `B_im` and `C_re`, `C_im` `(H, N/2)` are `B`
    and `C` of the kept modes, `log_dt` `(H,)` is `log Δ`.

    Example:
    >>> import keras, keras_ssm
    >>> import numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((None, 8)),
    ...     keras_ssm.S4DLayer(state_dim=16, seed=0),
    ...     keras.layers.Dense(2),
    ... ])
    >>> tuple(model(np.ones((3, 100, 8), "float32")).shape)
    (3, 100, 2)
    """

    def __init__(
        self,
        state_dim=64,
        init="legs",
        discretization="zoh",
        real_transform="exp",
        dt_min=1e-3,
        dt_max=1e-1,
        bidirectional=False,
        seed=None,
        kernel_dropout=0.0,
        **kwargs,
    ):
        super().__init__(
            kernel_dropout=kernel_dropout,
            state_dim=state_dim,
            discretization=discretization,
            dt_min=dt_min,
            dt_max=dt_max,
            bidirectional=bidirectional,
            init=init,
            seed=seed,
            **kwargs,
        )
        check_choice("init", init, hippo.S4D_INITS)
        check_choice("real_transform", real_transform, REAL_TRANSFORMS)
        if state_dim % 2:
            raise ValueError(
                f"`state_dim` must be even: S4D keeps N/2 complex modes with their "
                f"conjugates; got {state_dim}."
            )
        self.real_transform = real_transform

    def _build_ssm(self, rng):
        h, modes = self.features, self.state_dim // 2
        lam, b = hippo.s4d_init(self.init, self.state_dim, rng)
        lam = np.broadcast_to(lam, (h, modes))
        self.a_real = self._add_real("a_real", self._inverse_transform(-lam.real), role="Lambda")
        self.a_imag = self._add_real("a_imag", lam.imag, role="Lambda")
        self.B_re, self.B_im = self._add_complex("B", np.broadcast_to(b, (h, modes)), role="B")
        self.log_dt = self._add_real(
            "log_dt", np.log(log_uniform(rng, h, self.dt_min, self.dt_max)), role="step"
        )

        def complex_normal():  # real and imaginary parts N(0, 1/2)
            return (rng.standard_normal((h, modes)) + 1j * rng.standard_normal((h, modes))) / np.sqrt(2)

        self.C_re, self.C_im = self._add_complex("C", complex_normal(), role="C")
        if self.bidirectional:
            self.C_backward_re, self.C_backward_im = self._add_complex("C_backward", complex_normal(), role="C")

    def _inverse_transform(self, neg_re):
        """The stored `a` whose transform is `−Re Λ` (clamped to ≥ 1e-4, as S4)."""
        x = np.maximum(neg_re, 1e-4)
        if self.real_transform == "sigmoid":
            if np.any(x >= 1):
                raise ValueError(
                    "`real_transform='sigmoid'` keeps −Re Λ in (0, 1), but this init has −Re Λ up to "
                    f"{x.max():.3g}; use 'softplus' or 'exp'."
                )
            return np.log(x / (1 - x))
        return {
            "exp": np.log(x),
            "relu": np.maximum(neg_re - 1e-4, 0.0),
            "softplus": np.log(np.expm1(x)),
            "none": neg_re,
        }[self.real_transform]

    def _neg_real(self):
        a = self.a_real
        if self.real_transform == "exp":
            return ops.exp(a)
        if self.real_transform == "relu":
            return ops.relu(a) + 1e-4
        if self.real_transform == "softplus":
            return ops.softplus(a)
        if self.real_transform == "sigmoid":
            return ops.sigmoid(a)
        # "none" has no sign constraint: a clip keeps Re Λ < 0 (stable).
        return ops.maximum(a, 1e-4)

    def _system(self, length=None):
        # The factor 2 of the conjugate pairs is folded into C.
        system = {
            "Lambda": to_complex(-self._neg_real(), self.a_imag),
            "B": to_complex(self.B_re, self.B_im),
            "C": 2.0 * to_complex(self.C_re, self.C_im),
            "step": ops.exp(self.log_dt),
        }
        if self.bidirectional:
            system["C_backward"] = 2.0 * to_complex(self.C_backward_re, self.C_backward_im)
        return system

    def get_config(self):
        config = super().get_config()
        config["real_transform"] = self.real_transform
        return config
