"""DSS: diagonal state spaces (Gupta, Gu, Berant, NeurIPS 2022)."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_ssm import hippo
from keras_ssm import ops as ssm_ops
from keras_ssm.discretization import complex_expm1, discretize
from keras_ssm.layers.base import KernelSSMLayer, check_choice, check_step_scale, log_uniform, to_complex

VARIANTS = ("softmax", "exp", "exp-re-im", "exp-no-scale", "clip", "clip-no-scale")
# DSS-clip's bound on Re Λ (the reference's `max_real_Lambda`).
MAX_REAL_LAMBDA = 1e-4
INITS = ("skew_hippo", "random")
EPSILON = 1e-7


def reciprocal(x, epsilon=EPSILON):
    """DSS's ε-reciprocal `conj(x) / (x conj(x) + ε)`: finite at `x = 0`."""
    # Part by part: casting the real denominator to complex would have a
    # complex -> float cast as its gradient, which TF logs as a warning.
    re, im = ops.real(x), ops.imag(x)
    denominator = ops.square(re) + ops.square(im) + epsilon
    return to_complex(re / denominator, -im / denominator)


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

    With `step_scale` `s`, `x` becomes `s x` everywhere: DSS-softmax stays a
    softmax over its `L` taps at the new step. With a mask, DSS-softmax
    normalises each example over its own length (its last valid step + 1),
    so a right-padded batch equals the unpadded sequences. That is one
    kernel per example: a masked call costs about 3x an unmasked one
    (B 8, H 64, N 64, L 4096 on CPU: 4x forward, 2.5x forward + backward).

    Inputs `(batch, length, H)` float, outputs the same shape.

    Args:
        state_dim: DSS's `N`, the number of complex modes.
        variant: `"softmax"` (`Λ` unconstrained), or the exponential kernel
            with `"exp"` (`Re Λ = −exp(a) < 0`), `"exp-re-im"` (also
            `Im Λ = exp(b)`), `"clip"` (`Re Λ = min(a, 1e-4)`), and
            `"exp-no-scale"` / `"clip-no-scale"` (without the factor
            `(e^x − 1)/Λ`: `K_l = Re Σ_n W_n e^{x_n l}`), as the reference's
            `version`.
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

    Variables (the names of the official DSS code): `re_param` `(N,)` holds
    `log(−Re Λ)` for the `"exp"` variants (variable `log_neg_lambda_re`) and
    `Re Λ` otherwise (`lambda_re`); `im_param` `(N,)` holds `log(Im Λ)` for
    `"exp-re-im"` (`log_lambda_im`) and `Im Λ`
    otherwise (`lambda_im`); `log_dt` `(H,)` (or `(H, 2)` with
    `separate_dt`) is `log Δ`; `W_re`, `W_im` `(H, N)` are DSS's `W`, the
    output coefficients that the canonical form calls `C`.

    `ssm_parameters(length)` (the length is needed for DSS-softmax) folds the
    steps into `Λ` (`step` = 1) and the normalisation into `C`. Streaming
    (`step`) of DSS-softmax needs the length up front,
    `get_initial_state(batch_size, length=L)`, and carries it in the state.

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
        check_choice("variant", variant, VARIANTS)
        check_choice("init", init, INITS)
        if (variant == "softmax" or variant.endswith("no-scale")) and discretization != "zoh":
            raise ValueError(
                f"`discretization` must be 'zoh' with variant={variant!r} (its kernel is "
                f"defined for the exponential), got {discretization!r}."
            )
        if variant == "exp-re-im" and init != "skew_hippo":
            raise ValueError(
                "variant='exp-re-im' stores log(Im Λ): it needs init='skew_hippo' (positive Im Λ), "
                f"got init={init!r}."
            )
        self.variant = variant
        self.separate_dt = bool(separate_dt)

    def _build_ssm(self, rng):
        h, n = self.features, self.state_dim
        lam = hippo.skew_hippo(n) if self.init == "skew_hippo" else hippo.dss_random(n, rng)
        if self.variant.startswith("exp"):
            self.re_param = self._add_real("log_neg_lambda_re", np.log(-lam.real), role="Lambda")
        else:
            self.re_param = self._add_real("lambda_re", lam.real, role="Lambda")
        if self.variant == "exp-re-im":
            self.im_param = self._add_real("log_lambda_im", np.log(lam.imag), role="Lambda")
        else:
            self.im_param = self._add_real("lambda_im", lam.imag, role="Lambda")
        log_dt = np.log(log_uniform(rng, h, self.dt_min, self.dt_max))
        if self.separate_dt:
            log_dt = np.stack([log_dt, log_dt], axis=-1)
        self.log_dt = self._add_real("log_dt", log_dt, role="step")

        def complex_normal():
            return rng.standard_normal((h, n)) + 1j * rng.standard_normal((h, n))

        self.W_re, self.W_im = self._add_complex("W", complex_normal(), role="C")
        if self.bidirectional:
            self.W_backward_re, self.W_backward_im = self._add_complex("W_backward", complex_normal(), role="C")

    def _lambda(self):
        """`(Re Λ, Im Λ)` from the stored parameters of the variant."""
        re, im = self.re_param, self.im_param
        if self.variant.startswith("exp"):
            re = -ops.exp(re)
        elif self.variant.startswith("clip"):
            re = ops.minimum(re, MAX_REAL_LAMBDA)
        if self.variant == "exp-re-im":
            im = ops.exp(im)
        return re, im

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

    # -- DSS-softmax ---------------------------------------------------------
    #
    # With z = s·x (s the step_scale) and w = z for decaying modes (Re x ≤ 0),
    # w = −z for growing ones, the softmax kernel over L taps is
    #     K_l = Re Σ_n a_n e^{w_n l}            (decaying modes)
    #     K_l = Re Σ_n a_n e^{w_n (L − 1 − l)}  (growing: the max-shifted softmax)
    # with a = W (e^w − 1) / ((e^{wL} − 1) Λ) (ε-reciprocal), so no power of a
    # growing mode is ever formed. The normaliser runs over the taps at the
    # scaled step: the kernel stays a softmax at any step_scale.

    def _exponents(self, step_scale=1.0):
        """`(w, growing)`: `w = ±s x` with `Re w ≤ 0`, and where `Re x > 0`."""
        x = self._x()
        z = x * ops.cast(step_scale, x.dtype)
        growing = ops.real(x) > 0
        return ops.where(growing, -z, z), growing

    def _softmax_terms(self, length, step_scale=1.0):
        """`(w, growing, scale)` with `a = W · scale`; `length` is a number or
        `(batch, 1, 1)` (one per example)."""
        w, growing = self._exponents(step_scale)
        return w, growing, complex_expm1(w) * self._row_sum_reciprocal(w, length)

    def _row_sum_reciprocal(self, w, length):
        """`r((e^{wL} − 1) Λ)` (ε-reciprocal): `(e^w − 1)` times it is one over
        the softmax's row sum `Σ_{j<L} e^{wj}`, times `1/Λ`."""
        lam = to_complex(*self._lambda())
        return reciprocal(complex_expm1(w * ops.cast(length, w.dtype)) * lam)

    def _normalizer(self, x, length, step_scale=1.0):
        """`ρ` with `C = W x ρ` in the canonical form; `(H, N)` complex."""
        if self.variant.endswith("no-scale"):
            # C B̄ = W: ZOH's B̄ = (e^x − 1)/x (step 1) is divided out, exactly
            # (the ε-reciprocal would bias |e^x − 1| ~ Δ|Λ| near √ε).
            return ops.cast(1.0, x.dtype) / complex_expm1(x)
        if self.variant != "softmax":
            return ops.broadcast_to(reciprocal(to_complex(*self._lambda())), ops.shape(x))
        if length is None:
            raise ValueError("DSS-softmax depends on the sequence length: pass `length`.")
        w, growing = self._exponents(step_scale)
        rho = self._row_sum_reciprocal(w, length)
        # A growing mode's sum is dominated by its last term: shift by it.
        return ops.where(growing, -rho * ops.exp(w * ops.cast(length, w.dtype)), rho)

    def _system(self, length=None, step_scale=1.0):
        # The steps are folded into Λ (step = 1), the normalisation into C.
        x = self._x()
        rho = self._normalizer(x, length, step_scale)
        c = [w * x * rho for w in self._weights()]
        system = {"Lambda": x, "B": ops.ones_like(x), "C": c[0], "step": ops.ones_like(ops.real(x))}
        if self.bidirectional:
            system["C_backward"] = c[1]
        return system

    def _discrete(self, step_scale=1.0, length=None):
        # ZOH's B̄ = (e^{s x} − 1)/x divides by x = ΔΛ: where x = 0, its limit s
        # (DSS-exp's x, with Re x < 0, never is; other values are unchanged).
        system = self._system(length)
        lam, step = system["Lambda"], system["step"] * step_scale
        zero = ops.logical_and(ops.real(lam) == 0, ops.imag(lam) == 0)
        log_z, b_scale = discretize(ops.where(zero, ops.ones_like(lam), lam), step, self.discretization)
        log_z = ops.where(zero, ops.zeros_like(log_z), log_z)
        return log_z, ops.where(zero, ops.cast(step, b_scale.dtype), b_scale), system

    def _kernels(self, length, step_scale=1.0, lengths=None):
        """The forward and backward kernels, `(H, L)`, or `(batch, H, L)`
        normalised over each example's `lengths` (DSS-softmax)."""
        if self.variant != "softmax":
            return super()._kernels(length, step_scale)
        per_example = lengths is not None
        n = ops.cast(lengths, "float32")[:, None, None] if per_example else length
        w, growing, scale = self._softmax_terms(n, step_scale)
        zero = ops.zeros_like(scale)
        # One Vandermonde call for every (direction, decaying / growing) part.
        coefs = []
        for weight in self._weights():
            coef = weight * scale
            coefs += [ops.where(growing, zero, coef), ops.where(growing, coef, zero)]
        parts = ssm_ops.vandermonde(w, ops.stack(coefs), length)
        reverse = self._reverser(lengths, length) if per_example else lambda k: ops.flip(k, axis=-1)
        kernels = [parts[i] + reverse(parts[i + 1]) for i in range(0, len(coefs), 2)]
        return kernels[0], (kernels[1] if self.bidirectional else None)

    @staticmethod
    def _reverser(lengths, length):
        """Maps the `(batch, H, L)` taps `R_m` of the growing modes to
        `K_l = R_{L_b − 1 − l}` for `l < L_b` and 0 after (a flip per example)."""
        index = ops.cast(lengths, "int32")[:, None] - 1 - ops.arange(length, dtype="int32")[None]
        valid = (index >= 0)[:, None, :]
        index = ops.maximum(index, 0)[:, None, :]

        def reverse(k):
            taps = ops.take_along_axis(k, ops.broadcast_to(index, ops.shape(k)), axis=-1)
            return ops.where(valid, taps, ops.zeros_like(taps))

        return reverse

    def call(self, inputs, mask=None, step_scale=1.0, training=None):
        if self.variant != "softmax" or mask is None:
            return super().call(inputs, mask=mask, step_scale=step_scale, training=training)
        # DSS-softmax normalises each example over its own length (its last
        # valid step + 1): a padded batch equals the unpadded sequences.
        if self.real_arithmetic:
            raise ValueError(
                "DSS-softmax under a mask normalises each example over its own length: its "
                "kernel is not a constant, so it does not export with a mask (a padding mask, "
                "or the frame mask of a `pool` before this block). Export a model without pooling "
                "before its DSS-softmax layers and without the padding mask, or use variant='exp'."
            )
        u, keep = self._prepare(inputs, mask, step_scale)
        length = u.shape[1] if u.shape[1] is not None else ops.shape(u)[1]
        positions = ops.arange(1, length + 1, dtype="int32")[None]
        lengths = ops.maximum(ops.max(ops.where(mask, positions, 0), axis=1), 1)
        forward, backward = self._drop(self._kernels(length, step_scale, lengths=lengths), training)
        return self._finish(ssm_ops.fft_conv(u, forward, backward), u, keep)

    def ssm_parameters(self, length=None, step_scale=1.0):
        """The canonical system (see `SSMLayer.ssm_parameters`).

        DSS-softmax needs the `length` `L`, and normalises over the taps of a
        call at `step_scale` (a duration of `step_scale · L` trained steps):
        that normalisation is folded into `C`; `step` stays the trained one
        (1, folded into `Lambda`). DSS-exp ignores both.
        """
        if self.variant == "softmax" and length is None:
            raise ValueError(
                "DSS-softmax's system depends on the sequence length: call "
                "ssm_parameters(length=L)."
            )
        check_step_scale(step_scale)
        system = self._system(length, step_scale)
        params = {key: ops.convert_to_numpy(value) for key, value in system.items()}
        params["D"] = ops.convert_to_numpy(self.D)
        params["discretization"] = self.discretization
        return params

    # -- streaming -----------------------------------------------------------

    def get_initial_state(self, batch_size, length=None):
        """The zero state for `step`.

        DSS-exp: `(batch_size, H, N)` complex64 (`length` is ignored).
        DSS-softmax: its kernel depends on the stream's `length` `L` (an int,
        or one per example, `(batch_size,)`), which the state carries with the
        position reached: `{"x": (batch_size, H, N) complex64, "length":
        (batch_size,) int32, "position": (batch_size,) int32}`, so streams of
        different lengths may share the layer.
        """
        if self.variant != "softmax":
            return super().get_initial_state(batch_size)
        if length is None:
            raise ValueError(
                "DSS-softmax streams a sequence of known length: call "
                "get_initial_state(batch_size, length=L)."
            )
        if isinstance(length, (numbers.Number, np.ndarray, list, tuple)):
            values = np.asarray(length)
            if values.dtype.kind not in "iu" or not np.all(values > 0):
                raise ValueError(f"`length` must be a positive integer (per example), got {length!r}.")
        return {
            "x": ops.zeros((batch_size, self.features, self.state_dim), "complex64"),
            "length": ops.broadcast_to(ops.cast(length, "int32"), (batch_size,)),
            "position": ops.zeros((batch_size,), "int32"),
        }

    def step(self, inputs_t, state, step_scale=1.0):
        """One step of the recurrence: `x_k = Λ̄ x_{k−1} + B̄ u_k`,
        `y_k = Re(C x_k) + D u_k`.

        Args:
            inputs_t: `(batch, H)` float.
            state: from `get_initial_state` or the previous step: `(batch, H, N)`
                complex64 (DSS-exp) or its dict (DSS-softmax).

        Returns:
            `(outputs_t, new_state)`, `(batch, H)` and the state's structure.
        """
        if self.variant != "softmax":
            return super().step(inputs_t, state, step_scale=step_scale)
        self._check_streaming()
        self._check_step_input(inputs_t)
        check_step_scale(step_scale)
        if not isinstance(state, dict) or set(state) != {"x", "length", "position"}:
            raise ValueError(
                "`state` of DSS-softmax is the dict of get_initial_state(batch_size, length=L) "
                "(or of the previous step)."
            )
        # K_l = Re Σ a e^{w l} (decaying) or a e^{w (L − 1 − l)} (growing):
        # a decaying mode keeps the plain state x_k = e^{w} x_{k−1} + u_k; a
        # growing one keeps S_k = S_{k−1} + e^{w k} u_k and outputs
        # a e^{w (L − 1 − k)} S_k. No factor exceeds 1, so nothing overflows
        # (the plain state grows like e^{Re x·k} while C carries e^{−xL}: inf · 0
        # past Re x·L ≈ 88), and nothing is divided by x (x = 0 is allowed).
        length = ops.cast(state["length"], "float32")[:, None, None]
        w, growing, scale = self._softmax_terms(length, step_scale)
        n = ops.cast(length, w.dtype)
        k = ops.cast(ops.cast(state["position"], "float32")[:, None, None], w.dtype)
        ones = ops.ones_like(w)
        a = ops.where(growing, ones, ops.exp(w))
        b = ops.where(growing, ops.exp(w * k), ones)
        c = self._weights()[0] * scale * ops.where(growing, ops.exp(w * (n - 1.0 - k)), ones)
        u = ops.cast(inputs_t, "float32")
        x = a * state["x"] + b * ops.cast(u, "complex64")[:, :, None]
        y = ops.real(ops.sum(c * x, axis=-1)) + self.D * u
        new_state = {"x": x, "length": state["length"], "position": state["position"] + 1}
        return ops.cast(y, self.compute_dtype), new_state

    def chunk(self, inputs, state, mask=None, step_scale=1.0):
        if self.variant == "softmax":
            raise ValueError(
                "DSS-softmax's kernel depends on the whole sequence's length: it streams "
                "step by step (`get_initial_state(batch_size, length=L)`, then `step`), not "
                "by chunks. Use variant='exp' for chunked streaming."
            )
        return super().chunk(inputs, state, mask=mask, step_scale=step_scale)

    chunk.__doc__ = KernelSSMLayer.chunk.__doc__

    def get_config(self):
        config = super().get_config()
        config.update(variant=self.variant, separate_dt=self.separate_dt)
        return config
