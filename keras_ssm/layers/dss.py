"""DSS: diagonal state spaces (Gupta, Gu, Berant, NeurIPS 2022)."""

import keras
import numpy as np
from keras import ops

from keras_ssm import hippo
from keras_ssm import ops as ssm_ops
from keras_ssm.layers.base import KernelSSMLayer, check_choice, log_uniform, to_complex

VARIANTS = ("exp", "softmax")
INITS = ("skew_hippo", "random")
EPSILON = 1e-7


def reciprocal(x, epsilon=EPSILON):
    """DSS's ε-reciprocal `conj(x) / (x conj(x) + ε)`: finite at `x = 0`."""
    return ops.conj(x) / ops.cast(ops.real(x * ops.conj(x)) + epsilon, x.dtype)


@keras.saving.register_keras_serializable(package="keras_ssm")
class DSSLayer(KernelSSMLayer):
    """DSS: `H` diagonal SSMs sharing one complex spectrum `Λ` (N modes).

    With `x_n = Δ Λ_n` (or `Δ_re Re Λ_n + i Δ_im Im Λ_n` with `separate_dt`),
    the kernel of feature `h` is (DSS paper, Prop. 1 and §3.2)

        DSS-exp:      K_l = Re Σ_n W_n (e^{x_n} − 1) / Λ_n · e^{x_n l}
        DSS-softmax:  K_l = Re Σ_n W_n / Λ_n · e^{x_n l} / Σ_{j<L} e^{x_n j}

    with `y = K * u + D u`. In DSS-softmax `Λ` is unconstrained; the row sum
    uses its closed form `(e^{xL} − 1)/(e^x − 1)`, DSS's ε-reciprocal
    (ε = 1e-7), and for modes with `Re x > 0` the max-shift (computed as the
    reversed kernel of `−x`), so it never overflows. Its kernel depends on the
    length `L`. DSS keeps `N` complex modes with no conjugate symmetry.

    Inputs `(batch, length, H)` float, outputs the same shape.

    Args:
        state_dim: DSS's `N`, the number of complex modes.
        variant: `"exp"` (`Re Λ = −exp(a) < 0`) or `"softmax"`.
        init: `"skew_hippo"` (eigenvalues of the skew-symmetric HiPPO
            matrix, `−½ + iω`) or `"random"`.
        discretization: `"zoh"` (both variants; the paper's) or `"bilinear"`
            (DSS-exp only).
        separate_dt: a separate step for the real and imaginary parts of `Λ`
            (the DSS default).
        dt_min, dt_max: the range of the log-uniform initial steps.
        bidirectional: a second `W` for a backward kernel over strictly future
            inputs, as in the reference.
        seed: optional int for the initialisation.

    Call arguments: `inputs`, `mask`, `step_scale` as in `S4DLayer`.

    `ssm_parameters(length)` (the length is needed for DSS-softmax) folds the
    steps into `Λ` (`step` = 1) and the normalisation into `C`. Streaming
    (`step`) of DSS-softmax needs the length up front:
    `get_initial_state(batch_size, length=L)`.

    Example:
    >>> import keras, keras_ssm
    >>> import numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((None, 8)),
    ...     keras_ssm.DSSLayer(state_dim=16, variant="exp", seed=0),
    ...     keras.layers.Dense(2),
    ... ])
    >>> tuple(model(np.ones((3, 100, 8), "float32")).shape)
    (3, 100, 2)
    """

    def __init__(
        self,
        state_dim=64,
        variant="softmax",
        init="skew_hippo",
        discretization="zoh",
        separate_dt=True,
        dt_min=1e-3,
        dt_max=1e-1,
        bidirectional=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_dim=state_dim,
            discretization=discretization,
            dt_min=dt_min,
            dt_max=dt_max,
            bidirectional=bidirectional,
            init=init,
            seed=seed,
            **kwargs,
        )
        check_choice("variant", variant, VARIANTS)
        check_choice("init", init, INITS)
        if variant == "softmax" and discretization != "zoh":
            raise ValueError(
                "`discretization` must be 'zoh' with variant='softmax' (its kernel is "
                f"defined for the exponential), got {discretization!r}."
            )
        self.variant = variant
        self.separate_dt = bool(separate_dt)
        self._stream_length = None

    def _build_ssm(self, rng):
        h, n = self.features, self.state_dim
        lam = hippo.skew_hippo(n) if self.init == "skew_hippo" else hippo.dss_random(n, rng)
        if self.variant == "exp":
            self.lambda_re = self._add_real("log_neg_lambda_re", np.log(-lam.real), ssm=True)
        else:
            self.lambda_re = self._add_real("lambda_re", lam.real, ssm=True)
        self.lambda_im = self._add_real("lambda_im", lam.imag, ssm=True)
        log_dt = np.log(log_uniform(rng, h, self.dt_min, self.dt_max))
        if self.separate_dt:
            log_dt = np.stack([log_dt, log_dt], axis=-1)
        self.log_dt = self._add_real("log_dt", log_dt, ssm=True)

        def complex_normal():
            return rng.standard_normal((h, n)) + 1j * rng.standard_normal((h, n))

        self.W_re, self.W_im = self._add_complex("W", complex_normal())
        if self.bidirectional:
            self.W_backward_re, self.W_backward_im = self._add_complex("W_backward", complex_normal())

    def _lambda(self):
        re = -ops.exp(self.lambda_re) if self.variant == "exp" else self.lambda_re
        return re, self.lambda_im

    def _x(self):
        """`x = ΔΛ`, `(H, N)`, with separate steps for Re and Im if asked."""
        re, im = self._lambda()
        dt = ops.exp(self.log_dt)
        if self.separate_dt:
            return to_complex(dt[:, :1] * re, dt[:, 1:] * im)
        return to_complex(dt[:, None] * re, dt[:, None] * im)

    def _weights(self):
        w = [to_complex(self.W_re, self.W_im)]
        if self.bidirectional:
            w.append(to_complex(self.W_backward_re, self.W_backward_im))
        return w

    def _normalizer(self, x, length):
        """`ρ` with `C = W x ρ` in the canonical form; `(H, N)` complex."""
        lam = to_complex(*self._lambda())
        if self.variant == "exp":
            return ops.broadcast_to(reciprocal(lam), ops.shape(x))
        if length is None:
            raise ValueError("DSS-softmax depends on the sequence length: pass `length`.")
        positive = ops.real(x) > 0
        n = ops.cast(length, x.dtype)
        rho = reciprocal((ops.exp(ops.where(positive, -x, x) * n) - 1.0) * lam)
        # A growing mode's sum is dominated by its last term: shift by it.
        shift = ops.exp(ops.where(positive, -x * n, ops.zeros_like(x)))
        return ops.where(positive, -rho * shift, rho)

    def _system(self, length=None):
        # The steps are folded into Λ (step = 1), the normalisation into C.
        x = self._x()
        rho = self._normalizer(x, length)
        c = [w * x * rho for w in self._weights()]
        system = {"Lambda": x, "B": ops.ones_like(x), "C": c[0], "step": ops.ones_like(ops.real(x))}
        if self.bidirectional:
            system["C_backward"] = c[1]
        return system

    def _kernels(self, length, step_scale=1.0):
        if self.variant == "exp":
            return super()._kernels(length, step_scale)
        # Growing modes (Re x > 0) run as the reversed kernel of the decaying
        # -x, so no power e^{x l} is ever formed.
        x = self._x()
        s = ops.cast(step_scale, "float32")
        sx = x * ops.cast(s, x.dtype)
        positive = ops.real(x) > 0
        lam = to_complex(*self._lambda())
        n = ops.cast(length, "float32")
        rho = reciprocal((ops.exp(ops.where(positive, -x, x) * ops.cast(n, x.dtype)) - 1.0) * lam)
        exponent = ops.where(positive, x * ops.cast(s * (n - 1) - n, x.dtype), ops.zeros_like(x))
        scale = (ops.exp(sx) - 1.0) * rho * ops.where(positive, -ops.exp(exponent), ops.ones_like(x))
        log_z = ops.where(positive, -sx, sx)
        zero = ops.zeros_like(x)
        # One Vandermonde call for every (direction, decaying / growing) part.
        coefs = []
        for w in self._weights():
            coefs += [ops.where(positive, zero, w * scale), ops.where(positive, w * scale, zero)]
        parts = ssm_ops.vandermonde(log_z, ops.stack(coefs), length)
        kernels = [parts[i] + ops.flip(parts[i + 1], axis=-1) for i in range(0, len(coefs), 2)]
        return kernels[0], (kernels[1] if self.bidirectional else None)

    def ssm_parameters(self, length=None):
        if self.variant == "softmax" and length is None:
            raise ValueError(
                "DSS-softmax's system depends on the sequence length: call "
                "ssm_parameters(length=L)."
            )
        return super().ssm_parameters(length)

    def get_initial_state(self, batch_size, length=None):
        """The zero state `(batch_size, H, N)` complex64. DSS-softmax needs the
        `length` of the stream it will run over (its kernel depends on it)."""
        if self.variant == "softmax":
            if length is None:
                raise ValueError(
                    "DSS-softmax streams a sequence of known length: call "
                    "get_initial_state(batch_size, length=L)."
                )
            self._stream_length = int(length)
        return super().get_initial_state(batch_size)

    def chunk(self, inputs, state, mask=None, step_scale=1.0):
        if self.variant == "softmax":
            raise ValueError(
                "DSS-softmax's kernel depends on the whole sequence's length: it streams "
                "step by step (`get_initial_state(batch_size, length=L)`, then `step`), not "
                "by chunks. Use variant='exp' for chunked streaming."
            )
        return super().chunk(inputs, state, mask=mask, step_scale=step_scale)

    chunk.__doc__ = KernelSSMLayer.chunk.__doc__

    def _streaming_length(self):
        if self.variant == "softmax" and self._stream_length is None:
            raise ValueError(
                "DSS-softmax needs the stream length: call get_initial_state(batch_size, "
                "length=L) before `step`."
            )
        return self._stream_length

    def get_config(self):
        config = super().get_config()
        config.update(variant=self.variant, separate_dt=self.separate_dt)
        return config
