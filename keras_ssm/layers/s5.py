"""S5: simplified state space layers (Smith, Warrington, Linderman, ICLR 2023)."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_ssm import hippo
from keras_ssm import ops as ssm_ops
from keras_ssm.layers import real_form
from keras_ssm.layers.base import SSMLayer, check_choice, check_positive_int, log_uniform, to_complex

C_INITS = ("trunc_standard", "lecun", "complex_normal")


def lecun_normal(rng, shape, fan_in):
    """Truncated (±2σ) normal with variance `1/fan_in`, as JAX's lecun_normal."""
    z = rng.standard_normal(shape)
    while np.any(np.abs(z) > 2):
        bad = np.abs(z) > 2
        z[bad] = rng.standard_normal(bad.sum())
    # 0.8796 is the std of a standard normal truncated to [-2, 2].
    return z * np.sqrt(1.0 / fan_in) / 0.87962566103423978


def check_timesteps_values(timesteps):
    """Checks that Python / numpy `timesteps` are positive. Tensors are not
    read back: that would sync the device (and break a torch.compile graph)."""
    if isinstance(timesteps, (np.ndarray, numbers.Number, list, tuple)) and not np.all(
        np.asarray(timesteps) > 0
    ):
        raise ValueError(
            "`timesteps` must be positive: they are the intervals between samples "
            "(give padded steps any positive value, e.g. 1)."
        )


def reverse_timesteps(timesteps, mask=None):
    """The intervals of the reverse scan, `(batch, length)`: going back from
    `k + 1` to `k` spans `timesteps[:, k + 1]`, and 1 after the last valid step
    (as S5's irregular-sampling code pads the shifted intervals), so that the
    padding's own intervals never reach a valid step."""
    timesteps = ops.cast(timesteps, "float32")
    shifted = ops.concatenate([timesteps[:, 1:], ops.ones_like(timesteps[:, :1])], axis=1)
    if mask is None:
        return shifted
    valid = ops.cast(mask, "float32")
    later = ops.sum(valid, axis=1, keepdims=True) - ops.cumsum(valid, axis=1)  # valid steps after k
    return ops.where(later > 0, shifted, ops.ones_like(shifted))


@keras.saving.register_keras_serializable(package="keras_ssm")
class S5Layer(SSMLayer):
    """S5: one multi-input multi-output diagonal SSM, run by a parallel scan.

    With `P'` complex states (S5 paper, eq. 6-7 and §3):

        x_k = Λ̄ x_{k−1} + B̄ u_k,   y_k = Re(C̃ x_k) + D u_k,

    `Λ̄ = exp(ΛΔ)`, `B̄ = (Λ̄ − 1)/Λ · B̃` (ZOH) or the bilinear transform,
    one learned step `Δ_p` per state. `Λ` is initialised to the diagonalised
    normal part of HiPPO-LegS in `blocks` blocks, and `B̃ = V⁻¹B`, `C̃ = CV`
    with the eigenvectors `V`. With `conj_sym` the layer keeps `P/2` states
    and outputs `2 Re(C̃ x)`.

    Inputs `(batch, length, H)` float, outputs the same shape; `length` may be
    `None`. Masked steps feed no input to the state (time still passes) and
    output zero, in both directions.

    Args:
        state_dim: S5's `P` (before conjugate symmetry halves it).
        blocks: `J`, the number of HiPPO blocks (`P` divisible by `J`).
        conj_sym: keep one state per conjugate pair (`P` even per block).
        discretization: `"zoh"` or `"bilinear"`.
        c_init: `"trunc_standard"` (rows lecun-normal, then `·V`), `"lecun"`
            (one lecun-normal draw, then `·V`) or `"complex_normal"` (drawn in
            the modal basis).
        clip_eigs: use `Re Λ = min(Re Λ, −1e-4)` (stable for any length).
        dt_min, dt_max: the range of the log-uniform initial steps.
        bidirectional: a reverse scan over the same `(Λ̄, B̄u)` with its own
            `C̃`; both directions include the current input, as in S5.
        seed: optional int for the initialisation.

    Call arguments:
        inputs: `(batch, length, H)`.
        mask: optional `(batch, length)` boolean.
        step_scale: positive float multiplying every step (zero-shot change
            of sampling rate).
        timesteps: optional `(batch, length)` positive intervals for
            irregular sampling: the step at position `k` is
            `Δ · step_scale · timesteps[:, k]`, for both `Λ̄_k` and `B̄_k`
            (a time-varying discretization through the same scan). The reverse
            scan goes from `k + 1` back to `k`: it uses
            `timesteps[:, k + 1]` (1 after the last valid step), as S5's
            irregular-sampling code does.
        initial_state: optional `(batch, P')` complex64 state to start from.
        return_state: also return the final state `(batch, P')`, for chunked
            streaming of long inputs (unidirectional layers).

    Variables (the names of the official S5 code): `lambda_re`, `lambda_im`
    `(P',)` are `Λ` of the kept modes (`clip_eigs` caps `Re Λ` at −1e-4 when
    used), `B_re`, `B_im` `(P', H)` and `C_re`, `C_im` `(H, P')` are `B̃` and
    `C̃` in the eigenbasis, `log_step` `(P',)` is `log Δ`, one per mode.

    Example:
    >>> import keras, keras_ssm
    >>> import numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((None, 8)),
    ...     keras_ssm.S5Layer(state_dim=16, blocks=2, seed=0),
    ...     keras.layers.Dense(2),
    ... ])
    >>> tuple(model(np.ones((3, 100, 8), "float32")).shape)
    (3, 100, 2)
    """

    def __init__(
        self,
        state_dim=64,
        blocks=1,
        conj_sym=True,
        discretization="zoh",
        c_init="trunc_standard",
        clip_eigs=False,
        dt_min=1e-3,
        dt_max=1e-1,
        bidirectional=False,
        init="hippo",
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
        check_positive_int("blocks", blocks)
        check_choice("c_init", c_init, C_INITS)
        check_choice("init", init, ("hippo",))
        if state_dim % blocks:
            raise ValueError(
                f"`state_dim` ({state_dim}) must be divisible by `blocks` ({blocks})."
            )
        if conj_sym and (state_dim // blocks) % 2:
            raise ValueError(
                f"With conj_sym=True each block keeps half its states, so "
                f"`state_dim // blocks` must be even; got {state_dim} // {blocks}."
            )
        self.blocks = blocks
        self.conj_sym = bool(conj_sym)
        self.c_init = c_init
        self.clip_eigs = bool(clip_eigs)

    def _build_ssm(self, rng):
        h, p = self.features, self.state_dim
        lam, v, v_inv = hippo.block_hippo(p, self.blocks, self.conj_sym)
        modes = lam.shape[0]
        self.lambda_re = self._add_real("lambda_re", lam.real, role="Lambda")
        self.lambda_im = self._add_real("lambda_im", lam.imag, role="Lambda")
        b = v_inv @ lecun_normal(rng, (p, h), fan_in=p)
        self.B_re, self.B_im = self._add_complex("B", b, role="B")
        self.log_step = self._add_real(
            "log_step", np.log(log_uniform(rng, modes, self.dt_min, self.dt_max)), role="step"
        )

        def c_value():
            if self.c_init == "complex_normal":
                return (rng.standard_normal((h, modes)) + 1j * rng.standard_normal((h, modes))) * np.sqrt(0.5)
            fan_in = p if self.c_init == "trunc_standard" else p * h
            c = lecun_normal(rng, (h, p, 2), fan_in)
            return (c[..., 0] + 1j * c[..., 1]) @ v

        self.C_re, self.C_im = self._add_complex("C", c_value(), role="C")
        if self.bidirectional:
            self.C_backward_re, self.C_backward_im = self._add_complex("C_backward", c_value(), role="C")

    def _system(self, length=None):
        re = ops.minimum(self.lambda_re, -1e-4) if self.clip_eigs else self.lambda_re
        factor = 2.0 if self.conj_sym else 1.0
        system = {
            "Lambda": to_complex(re, self.lambda_im),
            "B": to_complex(self.B_re, self.B_im),
            "C": factor * to_complex(self.C_re, self.C_im),
            "step": ops.exp(self.log_step),
        }
        if self.bidirectional:
            system["C_backward"] = factor * to_complex(self.C_backward_re, self.C_backward_im)
        return system

    def __call__(self, inputs, *args, **kwargs):
        # Keras turns numpy arguments into tensors before `call`: check the
        # values while they are still on the host.
        check_timesteps_values(kwargs.get("timesteps"))
        return super().__call__(inputs, *args, **kwargs)

    def _check_timesteps(self, timesteps, inputs):
        shape = tuple(timesteps.shape)
        expected = tuple(inputs.shape[:2])
        if len(shape) != 2 or any(a is not None and b is not None and a != b for a, b in zip(shape, expected)):
            raise ValueError(
                f"`timesteps` must have shape (batch, length) = {expected}, got {shape}."
            )

    @staticmethod
    def _inject(u, b):
        """`u Bᵀ` for real `u (..., H)` and complex `B (P', H)`: one real
        matmul against `[Re B; Im B]` (fewer, larger matmuls are faster)."""
        modes = b.shape[0]
        z = ops.matmul(u, ops.transpose(ops.concatenate([ops.real(b), ops.imag(b)], axis=0)))
        return to_complex(z[..., :modes], z[..., modes:])

    @staticmethod
    def _project(states, cs):
        """`Σ Re(x Cᵀ)` over pairs of complex `x (..., P')` and `C (H, P')`,
        as one real matmul of `[Re x, Im x, ...]` against `[Re C, −Im C, ...]`."""
        x = ops.concatenate([part for s in states for part in (ops.real(s), ops.imag(s))], axis=-1)
        w = ops.concatenate([part for c in cs for part in (ops.real(c), -ops.imag(c))], axis=1)
        return ops.matmul(x, ops.transpose(w))

    def call(
        self,
        inputs,
        mask=None,
        step_scale=1.0,
        timesteps=None,
        initial_state=None,
        return_state=False,
    ):
        u, keep = self._prepare(inputs, mask, step_scale)
        if self.real_arithmetic:
            if timesteps is not None or initial_state is not None or return_state:
                raise ValueError(
                    "In real arithmetic (export) S5Layer takes `inputs` and `mask` only: "
                    "stream with `chunk(inputs, state)`; `timesteps` are not exported."
                )
            return self._finish(self._real_mix(u, step_scale), u, keep)
        if timesteps is not None:
            self._check_timesteps(timesteps, inputs)
        if (initial_state is not None or return_state) and self.bidirectional:
            raise ValueError(
                "`initial_state` / `return_state` carry a causal state: this layer is "
                "bidirectional."
            )
        system = self._system()
        log_z, b_scale, _ = self._discrete(step_scale, timesteps=timesteps, system=system)
        if timesteps is None:  # B̄ = b_scale ⊙ B once, not per step
            bu = self._inject(u, b_scale[:, None] * system["B"])
        else:
            injected = self._inject(u, system["B"])
            bu = injected * b_scale
        a = ops.exp(log_z)
        x, last = ssm_ops.linear_scan(a, bu, initial_state=initial_state)
        states, cs = [x], [system["C"]]
        if self.bidirectional:
            if timesteps is not None:
                log_z, b_scale, _ = self._discrete(step_scale, timesteps=reverse_timesteps(timesteps, mask), system=system)
                a, bu = ops.exp(log_z), injected * b_scale
            x_backward, _ = ssm_ops.linear_scan(a, bu, reverse=True)
            states.append(x_backward)
            cs.append(system["C_backward"])
        y = self._finish(self._project(states, cs), u, keep)
        return (y, last) if return_state else y

    # -- real arithmetic (export; see real_form) ---------------------------

    def _real_system(self, step_scale):
        def system():
            s = self._system()
            log_z, b_scale, _ = self._discrete(step_scale, system=s)
            return {"log_z": log_z, "B": b_scale[:, None] * s["B"], "C": [s["C"], s.get("C_backward")]}

        return real_form.constants(self, ("system", float(step_scale)), system)

    @staticmethod
    def _real_states(u, system, reverse=False):
        """`(Re x, Im x)` `(batch, L, P')` of the scan from a zero state."""
        b = system["B"]
        bu = ops.matmul(u, np.concatenate([b.real, b.imag]).T)  # one matmul, as `_inject`
        bu_re, bu_im = bu[..., : b.shape[0]], bu[..., b.shape[0] :]
        taps = real_form.powers(system["log_z"], real_form.static_length(u))
        return real_form.complex_conv(bu_re, bu_im, taps, reverse)

    @staticmethod
    def _real_readout(cs):
        """`Σ Re(C x)` as the matrix `(2P' · len(cs), H)` that multiplies
        `[Re x, Im x]` of each state in turn."""
        return np.concatenate([part for c in cs for part in (c.real, -c.imag)], axis=1).T

    @classmethod
    def _real_project(cls, states, cs):
        """`Σ Re(C x)` over pairs of states `(Re x, Im x)` and numpy `C`."""
        x = ops.concatenate([part for s in states for part in s], axis=-1)
        return ops.matmul(x, cls._real_readout(cs))

    def _real_mix(self, u, step_scale):
        system = self._real_system(step_scale)
        states, cs = [self._real_states(u, system)], [system["C"][0]]
        if self.bidirectional:
            states.append(self._real_states(u, system, reverse=True))
            cs.append(system["C"][1])
        return self._real_project(states, cs)

    def _real_chunk(self, u, state, step_scale, backward=False):
        """`chunk` in real arithmetic, the state `(batch, P', 2)` (None: the
        zero state): `x_k = Σ_{j≤k} Λ̄^{k−j} B̄ u_j + Λ̄^{k+1} x_0`, one matrix
        product per mode (`real_form.mode_transfer`). `backward=True` reads
        the states with `C_backward`: a bidirectional layer's backward half
        over a time-reversed chunk."""
        system = self._real_system(step_scale)
        length, modes = real_form.static_length(u), system["log_z"].shape[0]
        b = system["B"]
        bu = ops.matmul(u, np.concatenate([b.real, b.imag]).T)  # (batch, C, 2P'): [Re | Im]
        # Per mode, its inputs' real parts, then their imaginary parts: (batch, P', 2C).
        v = ops.reshape(ops.transpose(ops.reshape(bu, (-1, length, 2, modes)), (0, 3, 2, 1)), (-1, modes, 2 * length))
        x = ops.reshape(ops.einsum("bpi,pio->bpo", v, real_form.mode_transfer(system["log_z"], length)),
                        (-1, modes, 2, length))
        if state is not None:
            ahead = real_form.powers(system["log_z"], length, start=1)  # Λ̄^{k+1}, (P', C)
            re, im = real_form.rotate(ahead, state[..., 0:1], state[..., 1:2])
            x = x + ops.stack([re, im], axis=2)
        states = ops.reshape(ops.transpose(x, (0, 3, 2, 1)), (-1, length, 2 * modes))  # [Re x | Im x] per step
        return ops.matmul(states, self._real_readout([system["C"][int(backward)]])), x[..., -1]

    def compute_output_spec(self, inputs, return_state=False, **kwargs):
        y = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_state:
            return y
        return y, keras.KerasTensor((inputs.shape[0], self._modes()), dtype="complex64")

    def _modes(self):
        return self.state_dim // 2 if self.conj_sym else self.state_dim

    def get_initial_state(self, batch_size):
        """The zero state `(batch_size, P')` complex64 for `step` / `initial_state`
        (in real arithmetic, `(batch_size, P', 2)` float32 for `chunk`)."""
        if self.real_arithmetic:
            return ops.zeros((batch_size, self._modes(), 2), "float32")
        return ops.zeros((batch_size, self._modes()), "complex64")

    def chunk(self, inputs, state, mask=None, step_scale=1.0):
        """The full pass over a chunk `(batch, C, H)` from `state` `(batch, P')`:
        returns `(outputs, new_state)`; a stream fed chunk by chunk equals the
        full pass over it."""
        self._check_streaming()
        if self.real_arithmetic:
            u, keep = self._prepare(inputs, mask, step_scale)
            mixed, new_state = self._real_chunk(u, state, step_scale)
            return self._finish(mixed, u, keep), new_state
        return self(inputs, mask=mask, step_scale=step_scale, initial_state=state, return_state=True)

    def step(self, inputs_t, state, step_scale=1.0, timesteps_t=None):
        """One step `x_k = Λ̄ x_{k−1} + B̄ u_k`, `y_k = Re(C̃ x_k) + D u_k`.

        Args:
            inputs_t: `(batch, H)` float.
            state: `(batch, P')` complex64.
            timesteps_t: optional `(batch,)` interval of this step.

        Returns:
            `(outputs_t, new_state)`.
        """
        self._check_streaming()
        self._check_step_input(inputs_t)
        check_timesteps_values(timesteps_t)
        system = self._system()
        log_z, b_scale, _ = self._discrete(
            step_scale, timesteps=None if timesteps_t is None else ops.reshape(timesteps_t, (-1, 1)), system=system
        )
        if timesteps_t is not None:
            log_z, b_scale = log_z[:, 0], b_scale[:, 0]
        u = ops.cast(inputs_t, "float32")
        state = ops.exp(log_z) * state + b_scale * self._inject(u, system["B"])
        y = self._project([state], [system["C"]]) + self.D * u
        return ops.cast(y, self.compute_dtype), state

    def get_config(self):
        config = super().get_config()
        config.update(
            blocks=self.blocks,
            conj_sym=self.conj_sym,
            c_init=self.c_init,
            clip_eigs=self.clip_eigs,
        )
        return config
