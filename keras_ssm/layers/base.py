"""The shared base of the SSM layers: argument checks, masking, dtypes, streaming.

`SSMLayer` holds what every layer does the same way; `KernelSSMLayer` adds the
single-input single-output bank of S4D and DSS, computed through its
convolution kernel. A layer describes its system once, in the canonical
continuous form of DESIGN.md (`_system`); the full pass, `kernel`, `step` and
`ssm_parameters` are all derived from that one description.
"""

import contextvars
import numbers
import operator

import keras
import numpy as np
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.discretization import DISCRETIZATIONS, discretize
from keras_ssm.layers import real_form
from keras_ssm.ops import to_complex  # noqa: F401 (the layers import it from here)
from keras_ssm.validation import check_choice, check_positive_int  # noqa: F401 (imported from here too)

# Optimizer settings of the SSM parameters (Λ, B, Δ), read by the training
# recipe: their own learning rate and no weight decay (S4D, S5, DSS papers).
SSM_OPTIMIZER = {"learning_rate": "ssm", "weight_decay": 0.0}
# The roles of the SSM parameters proper; C and D are tagged too, so that an
# optimizer scheme (keras_ssm.training.optimizers.GROUPS) can place them.
SSM_ROLES = ("Lambda", "B", "step")


def check_step_scale(step_scale):
    """Validates `step_scale` when it is a Python or numpy number."""
    if isinstance(step_scale, (numbers.Real, np.ndarray)) and not np.all(np.asarray(step_scale) > 0):
        raise ValueError(
            f"`step_scale` must be positive (it multiplies every step size), got {step_scale!r}."
        )


def log_uniform(rng, shape, low, high):
    return np.exp(rng.uniform(np.log(low), np.log(high), size=shape))


class SSMLayer(keras.layers.Layer):
    """Base of the diagonal SSM layers: `(batch, length, H)` in and out.

    Subclasses implement `_mix(u, step_scale, training)` (the sequence mixing, without
    the `D` skip) and `_system(length)`; this class handles validation,
    masking, the skip term, float32 computation under mixed precision, and
    the streaming / export API.
    """

    # The SSM runs in float32 whatever the policy: its parameters are not
    # cast to a float16 compute dtype (FFTs and long recurrences need float32).
    def __init__(
        self,
        state_dim,
        discretization="zoh",
        dt_min=1e-3,
        dt_max=1e-1,
        bidirectional=False,
        init=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(autocast=False, **kwargs)
        check_positive_int("state_dim", state_dim)
        check_choice("discretization", discretization, DISCRETIZATIONS)
        if not (isinstance(dt_min, numbers.Real) and isinstance(dt_max, numbers.Real)):
            raise ValueError(f"`dt_min` and `dt_max` must be numbers, got {dt_min!r}, {dt_max!r}.")
        if not 0 < dt_min < dt_max:
            raise ValueError(
                f"Expected 0 < `dt_min` < `dt_max` (the range of the initial step sizes), "
                f"got dt_min={dt_min}, dt_max={dt_max}."
            )
        if not isinstance(bidirectional, bool):
            raise ValueError(f"`bidirectional` must be True or False, got {bidirectional!r}.")
        self.state_dim = state_dim
        self.discretization = discretization
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.bidirectional = bidirectional
        self.init = init
        self.seed = seed
        self.supports_masking = True
        # Set by keras_ssm.export.real_arithmetic: run without complex dtype or FFT.
        self.real_arithmetic = False

    # -- construction -----------------------------------------------------

    def _rng(self):
        # Without a seed, draw from numpy's global state, which
        # keras.utils.set_random_seed seeds.
        seed = self.seed if self.seed is not None else np.random.randint(2**31)
        return np.random.default_rng(seed)

    def _add_real(self, name, value, role=None):
        """A float32 variable; `role` (`"Lambda"`, `"B"`, `"step"`, `"C"`, `"D"`)
        says which part of the system it holds, for the optimizer's groups."""
        # C order: torch keeps a numpy array's strides, and Inductor (torch 2.13)
        # differentiates a cast of a column-major parameter wrongly.
        value = np.ascontiguousarray(value, "float32")
        # autocast=False: the system is computed in float32 (complex64) under
        # any dtype policy; only the layer's inputs and outputs follow it.
        var = self.add_weight(
            name=name,
            shape=value.shape,
            initializer=lambda shape, dtype: value,
            dtype="float32",
            autocast=False,
        )
        if role is not None:
            var.ssm_role = role
        if role in SSM_ROLES:
            var.ssm_optimizer = dict(SSM_OPTIMIZER)
        return var

    def _add_complex(self, name, value, role=None):
        """A complex parameter as two real variables (optimizer moments are real)."""
        value = np.asarray(value)
        return (
            self._add_real(f"{name}_re", value.real, role),
            self._add_real(f"{name}_im", value.imag, role),
        )

    @property
    def ssm_variables(self):
        """The variables tagged as SSM parameters (Λ, B, Δ): trained at the
        SSM learning rate with no weight decay."""
        return [v for v in self.trainable_variables if getattr(v, "ssm_optimizer", None)]

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"`inputs` must have rank 3, (batch, length, features); got shape {input_shape}."
            )
        if input_shape[-1] is None:
            raise ValueError("The feature axis of `inputs` must be known when the layer is built.")
        self.features = int(input_shape[-1])
        rng = self._rng()
        self._build_ssm(rng)
        self.D = self._add_real("D", rng.standard_normal(self.features), role="D")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    # -- the full pass ------------------------------------------------------

    def _check_inputs(self, inputs):
        if len(inputs.shape) != 3:
            raise ValueError(
                f"`inputs` must have rank 3, (batch, length, features); got shape {inputs.shape}."
            )
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "float" not in dtype:
            raise ValueError(
                f"`inputs` must be a float tensor, got dtype {dtype}. Embed token ids first "
                "(e.g. keras.layers.Embedding) or cast them."
            )
        if inputs.shape[-1] is not None and inputs.shape[-1] != self.features:
            raise ValueError(
                f"`inputs` has {inputs.shape[-1]} features but the layer was built for "
                f"{self.features}."
            )

    def _prepare(self, inputs, mask, step_scale):
        """Checks the call, returns float32 inputs with masked steps zeroed."""
        self._check_inputs(inputs)
        check_step_scale(step_scale)
        u = ops.cast(inputs, "float32")
        if mask is None:
            return u, None
        # A masked step feeds no input to the state and outputs zero.
        keep = ops.cast(mask, "float32")[..., None]
        return u * keep, keep

    def _finish(self, mixed, u, keep):
        y = mixed + self.D * u
        if keep is not None:
            y = y * keep
        return ops.cast(y, self.compute_dtype)

    def call(self, inputs, mask=None, step_scale=1.0, training=None):
        u, keep = self._prepare(inputs, mask, step_scale)
        if self.real_arithmetic:
            return self._finish(self._real_mix(u, step_scale), u, keep)
        return self._finish(self._mix(u, step_scale, training), u, keep)

    # -- the canonical system -------------------------------------------

    def _discrete(self, step_scale=1.0, length=None, timesteps=None, system=None):
        """`(log Λ̄, b, system)` of `_system` (or of `system`) discretized at
        `Δ · step_scale`, times `timesteps` `(batch, length)` per step when given
        (S5's irregular sampling), with `B̄ = b ⊙ B`."""
        system = self._system(length) if system is None else system
        step = system["step"] * ops.cast(step_scale, "float32")
        if len(system["step"].shape) < len(system["Lambda"].shape):
            step = step[..., None]
        if timesteps is not None:
            step = ops.cast(timesteps, "float32")[..., None] * step
        log_z, b_scale = discretize(system["Lambda"], step, self.discretization)
        return log_z, b_scale, system

    def ssm_parameters(self, length=None):
        """The layer's system in the canonical continuous-time form (DESIGN.md).

        Returns a dict of numpy arrays: `Lambda`, `B`, `C`, `D`, `step` (the
        trained step, unaffected by `step_scale`), `"discretization"`, and
        `C_backward` for bidirectional layers; `y = Re(C x) + D u` with the
        conjugate-symmetry factor 2 already folded into `C`.
        """
        params = {
            key: ops.convert_to_numpy(value) for key, value in self._system(length).items()
        }
        params["D"] = ops.convert_to_numpy(self.D)
        params["discretization"] = self.discretization
        return params

    def get_config(self):
        config = super().get_config()
        config.update(
            state_dim=self.state_dim,
            discretization=self.discretization,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            bidirectional=self.bidirectional,
            init=self.init,
            seed=self.seed,
        )
        return config

    # -- streaming -------------------------------------------------------

    def _check_streaming(self):
        if self.bidirectional:
            raise ValueError(
                "Streaming (`step`) needs a causal layer: this layer is bidirectional. "
                "Build it with bidirectional=False for online inference."
            )

    def _check_step_input(self, inputs_t):
        if len(inputs_t.shape) != 2 or inputs_t.shape[-1] != self.features:
            raise ValueError(
                f"`inputs_t` must have shape (batch, {self.features}), got {inputs_t.shape}."
            )


# The `StreamConstants` open in this context (see its docstring).
_OPEN_STREAM = contextvars.ContextVar("keras_ssm_stream_constants", default=None)
# Chunks of up to this many steps convolve by a (C, C) Toeplitz matrix per
# feature, one einsum: cheaper than an FFT of a short chunk.
MAX_TOEPLITZ = 64


class StreamConstants:
    """What the `chunk` passes of one stream reuse, computed once.

    Built at a stream's start from the weights of `model`'s S4D and DSS
    layers, at the model's `step_scale`: their discretised `(log Λ̄, B̄, C)`
    (`KernelSSMLayer.chunk_system`). While it is open (`with constants:`), a
    layer's `chunk` of `C` steps takes its kernel and the powers of `Λ̄` from
    here, computed once per `C` in numpy (complex128, then complex64), so
    compiled steps hold them as constants. It is per stream, fixed at its
    start: after the weights change, start a new stream.

    Example:
    >>> import numpy as np, keras_ssm
    >>> layer = keras_ssm.S4DLayer(state_dim=8, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((1, 12, 4)).astype("float32")
    >>> y = keras.ops.convert_to_numpy(layer(x))
    >>> state = layer.get_initial_state(1)
    >>> with StreamConstants(layer) as constants:
    ...     a, state = layer.chunk(x[:, :8], state)
    ...     b, state = layer.chunk(x[:, 8:], state)
    >>> streamed = np.concatenate([keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)], axis=1)
    >>> bool(np.allclose(streamed, y, atol=1e-5)), sorted(constants.lengths(layer))
    (True, [4, 8])
    """

    def __init__(self, model, step_scale=1.0):
        self.step_scale = float(step_scale)
        # DSS-softmax streams by `step` only (its kernel needs the whole length).
        self._layers = {id(layer): (layer.chunk_system(step_scale), {}) for layer in ssm_layers(model)
                        if isinstance(layer, KernelSSMLayer) and not layer.bidirectional
                        and getattr(layer, "variant", None) != "softmax"}
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_OPEN_STREAM.set(self))
        return self

    def __exit__(self, *exc):
        _OPEN_STREAM.reset(self._tokens.pop())

    def lengths(self, layer):
        """The chunk lengths whose constants `layer` holds so far."""
        return list(self._layers[id(layer)][1])

    @staticmethod
    def terms(layer, length, step_scale):
        """`chunk`'s constants of `layer` for `length` steps (numpy), or None:
        no stream is open, it holds no such layer, the length is not static
        or the step scale is another."""
        self = _OPEN_STREAM.get()
        entry = None if self is None else self._layers.get(id(layer))
        if entry is None or not isinstance(step_scale, numbers.Real) or float(step_scale) != self.step_scale:
            return None
        try:  # a traced size under torch.jit.trace; a TF graph's unknown length is no index
            length = operator.index(length)
        except TypeError:
            return None
        (log_z, b_bar, c), by_length = entry
        if length not in by_length:
            by_length[length] = _chunk_terms(log_z, b_bar, c, length)
        return by_length[length]


def _chunk_terms(log_z, b_bar, c, length):
    """`KernelSSMLayer._chunk_terms` in numpy, from `chunk_system`'s arrays."""
    powers = np.exp(log_z.astype(np.complex128)[..., None] * np.arange(length + 1))  # Λ̄^0 … Λ̄^C
    kernel = np.einsum("hn,hnk->hk", c * b_bar, powers[..., :-1]).real.astype(np.float32)
    terms = {
        "ahead": (c[..., None] * powers[..., 1:]).astype(np.complex64),
        "decays": (np.flip(powers[..., :-1], axis=-1) * b_bar[..., None]).astype(np.complex64),
        "last": powers[..., -1].astype(np.complex64),
    }
    if length <= MAX_TOEPLITZ:
        lag = np.arange(length)[:, None] - np.arange(length)[None, :]  # (k, j): k − j
        terms["toeplitz"] = np.where(lag >= 0, kernel[:, np.maximum(lag, 0)], 0.0).astype(np.float32)
    else:
        terms["kernel"] = kernel
    return terms


def ssm_layers(model):
    """Every keras_ssm SSM layer inside `model` (a layer or model), in order.

    >>> import keras_ssm
    >>> model = keras_ssm.SSMBackbone("s5", depth=2, width=8, input_dim=1)
    >>> [type(layer).__name__ for layer in ssm_layers(model)]
    ['S5Layer', 'S5Layer']
    """
    return [layer for layer in model._flatten_layers(include_self=True) if isinstance(layer, SSMLayer)]


class KernelSSMLayer(SSMLayer):
    """A bank of `H` single-input single-output diagonal SSMs (S4D, DSS),
    computed as a long convolution with its kernel.

    `_system` returns `Lambda`, `B`, `C` of shape `(H, N)`, `step` `(H,)` or
    `(H, N)`, and `C_backward` when bidirectional. `kernel_dropout` drops the
    kernel's taps in training (S4's `drop_kernel`).
    """

    def __init__(self, *args, kernel_dropout=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= kernel_dropout < 1.0:
            raise ValueError(f"`kernel_dropout` must be in [0, 1), got {kernel_dropout!r}.")
        self.kernel_dropout = float(kernel_dropout)
        # Only with dropout: a seed generator is state, and weights files list it.
        if self.kernel_dropout:
            self.seed_generator = keras.random.SeedGenerator(self.seed)

    def get_config(self):
        config = super().get_config()
        config["kernel_dropout"] = self.kernel_dropout
        return config

    def _drop(self, kernels, training):
        if not (training and self.kernel_dropout):
            return kernels
        return tuple(
            None if k is None else keras.random.dropout(k, self.kernel_dropout, seed=self.seed_generator)
            for k in kernels
        )

    def _kernels(self, length, step_scale=1.0):
        log_z, b_scale, system = self._discrete(step_scale, length)
        b_bar = b_scale * system["B"]
        forward = ssm_ops.vandermonde(log_z, system["C"] * b_bar, length)
        if not self.bidirectional:
            return forward, None
        return forward, ssm_ops.vandermonde(log_z, system["C_backward"] * b_bar, length)

    def kernel(self, length, step_scale=1.0):
        """The convolution kernel `K_k = Re Σ_n C_n B̄_n Λ̄_n^k`, D excluded.

        Returns `(features, length)` float32 (with bidirectional layers, the
        forward kernel; the backward one is `kernel_backward`).
        """
        check_positive_int("length", length)
        check_step_scale(step_scale)
        return self._kernels(length, step_scale)[0]

    def kernel_backward(self, length, step_scale=1.0):
        """The backward kernel of a bidirectional layer, `(features, length)`:
        tap `k` weights the input `k + 1` steps in the future."""
        if not self.bidirectional:
            raise ValueError("`kernel_backward` needs a bidirectional layer.")
        check_positive_int("length", length)
        return self._kernels(length, step_scale)[1]

    def _mix(self, u, step_scale, training=None):
        length = u.shape[1] if u.shape[1] is not None else ops.shape(u)[1]
        forward, backward = self._drop(self._kernels(length, step_scale), training)
        return ssm_ops.fft_conv(u, forward, backward)

    def _real_mix(self, u, step_scale):
        length = real_form.static_length(u)
        forward, backward = real_form.constants(
            self, ("kernels", length, float(step_scale)), lambda: self._kernels(length, step_scale)
        )
        y = real_form.causal_conv(u, forward)
        if backward is not None:
            # Backward tap j weights the input j + 1 steps ahead.
            taps = np.concatenate([np.zeros_like(backward[:, :1]), backward[:, :-1]], axis=1)
            y = y + real_form.anticausal_conv(u, taps)
        return y

    def get_initial_state(self, batch_size):
        """The zero state `(batch_size, H, N)` complex64 for `step` (in real
        arithmetic, `(batch_size, H, N, 2)` float32: real and imaginary parts)."""
        n = self._system(self._streaming_length())["Lambda"].shape[-1]
        if self.real_arithmetic:
            return ops.zeros((batch_size, self.features, n, 2), "float32")
        return ops.zeros((batch_size, self.features, n), "complex64")

    def _streaming_length(self):
        return None

    def chunk(self, inputs, state, mask=None, step_scale=1.0):
        """The full pass over a chunk `(batch, C, H)` that starts from `state`
        `(batch, H, N)` (from `get_initial_state` or the previous chunk):
        returns `(outputs, new_state)`, so that a stream fed chunk by chunk
        equals the full pass over it. With `x_0` the state and `u` the chunk,

            y_k = (K * u)_k + Re Σ_n C_n Λ̄_n^{k+1} x_{0,n} + D u_k,
            x_C = Λ̄^C x_0 + Σ_j Λ̄^{C−1−j} B̄ u_j.

        Inside an open `StreamConstants` (a stream's), `K` and the powers of
        `Λ̄` come from it, computed once per chunk length; otherwise from the
        weights, on every call.
        """
        self._check_streaming()
        u, keep = self._prepare(inputs, mask, step_scale)
        if self.real_arithmetic:
            mixed, new_state = self._real_chunk(u, state, step_scale)
            return self._finish(mixed, u, keep), new_state
        length = u.shape[1] if u.shape[1] is not None else ops.shape(u)[1]
        terms = StreamConstants.terms(self, length, step_scale)
        if terms is None:
            terms = self._chunk_terms(length, step_scale)
        if "toeplitz" in terms:
            mixed = ops.einsum("bjh,hkj->bkh", u, terms["toeplitz"])
        else:
            mixed = ssm_ops.fft_conv(u, terms["kernel"], None)
        from_state = ops.real(ops.einsum("bhn,hnk->bkh", state, terms["ahead"]))
        injected = ops.einsum("bjh,hnj->bhn", ops.cast(u, "complex64"), terms["decays"])
        new_state = ops.add(ops.multiply(terms["last"], state), injected)
        return self._finish(mixed + from_state, u, keep), new_state

    def _chunk_terms(self, length, step_scale):
        """`chunk`'s constants for `length` steps, from the weights (tensors):
        the kernel `K`, `C Λ̄^{k+1}` and `Λ̄^{C−1−j} B̄` `(H, N, C)`, `Λ̄^C`."""
        log_z, b_scale, system = self._discrete(step_scale, self._streaming_length())
        b_bar = b_scale * system["B"]
        k = ops.cast(ops.arange(length), "complex64")
        powers = ops.exp(log_z[..., None] * (k + 1.0))  # (H, N, C): Λ̄^{k+1}
        # Λ̄^{C−1−j} is powers[..., C−2−j] for j < C−1, and 1 for the last input.
        decays = ops.concatenate([ops.flip(powers[..., :-1], axis=-1), ops.ones_like(powers[..., :1])], axis=-1)
        return {
            "kernel": ssm_ops.vandermonde(log_z, system["C"] * b_bar, length),
            "ahead": system["C"][..., None] * powers,
            "decays": decays * b_bar[..., None],
            "last": powers[..., -1],
        }

    def chunk_system(self, step_scale=1.0):
        """`(log Λ̄, B̄, C)` `(H, N)` complex64 numpy, of the current weights:
        what a chunk pass reuses (`StreamConstants`). Call it eagerly.

        >>> import numpy as np, keras_ssm
        >>> layer = keras_ssm.S4DLayer(state_dim=8, seed=0)
        >>> _ = layer(np.zeros((1, 4, 2), "float32"))
        >>> [a.shape for a in layer.chunk_system()]
        [(2, 4), (2, 4), (2, 4)]
        """
        log_z, b_scale, system = self._discrete(step_scale, self._streaming_length())
        return tuple(ops.convert_to_numpy(x) for x in (log_z, b_scale * system["B"], system["C"]))

    def _real_chunk(self, u, state, step_scale, backward=False):
        """`chunk` in real arithmetic, the state `(batch, H, N, 2)` (None: the
        zero state). Per feature, matrix products take the chunk's inputs to
        the outputs (`K`'s Toeplitz matrix) and to the state they add
        (`Λ̄^{C−1−j} B̄`), and the entering state to the outputs
        (`C Λ̄^{k+1}`); the entering state decays by `Λ̄^C`.

        `backward=True` runs a bidirectional layer's backward half over a
        time-reversed chunk: `C_backward`, and each output reads the state
        before its own input (`C_b Λ̄^k`, taps shifted by one step), since the
        backward kernel weights only the inputs ahead."""
        length = real_form.static_length(u)

        def system():
            log_z, b_scale, system = self._discrete(step_scale, self._streaming_length())
            return log_z, b_scale * system["B"], system["C"], system.get("C_backward")

        log_z, b_bar, c, c_backward = real_form.constants(self, ("system", float(step_scale)), system)
        c, start = (c_backward, 0) if backward else (c, 1)
        modes = log_z.shape[-1]
        kernel = np.einsum("hn,hnk->hk", c * b_bar, real_form.powers(log_z, length)).real
        if backward:
            kernel = np.concatenate([np.zeros_like(kernel[:, :1]), kernel[:, :-1]], axis=1)
        ahead = real_form.powers(log_z, length, start=1)  # Λ̄^{k+1}, (H, N, C)
        decays = np.concatenate([np.flip(ahead[..., :-1], -1), np.ones_like(ahead[..., :1])], -1) * b_bar[..., None]
        to_state = np.concatenate([decays.real, decays.imag], axis=1).transpose(0, 2, 1)  # (H, C, 2N)
        u_t = ops.transpose(u, (0, 2, 1))  # (batch, H, C)
        y = ops.einsum("bhj,hjk->bkh", u_t, real_form.toeplitz(kernel))
        added = ops.einsum("bhj,hjm->bhm", u_t, to_state.astype(np.float32))
        if state is None:
            return y, ops.stack([added[..., :modes], added[..., modes:]], axis=-1)
        w = c[..., None] * (ahead if start == 1 else real_form.powers(log_z, length))  # C Λ̄^{k+1} (backward: C_b Λ̄^k)
        x_re, x_im = state[..., 0], state[..., 1]
        y = y + ops.einsum("bhm,hmk->bkh", ops.concatenate([x_re, x_im], axis=-1),
                           np.concatenate([w.real, -w.imag], axis=1).astype(np.float32))
        re, im = real_form.rotate(ahead[..., -1], x_re, x_im)
        return y, ops.stack([re + added[..., :modes], im + added[..., modes:]], axis=-1)

    def step(self, inputs_t, state, step_scale=1.0):
        """One step of the recurrence: `x_k = Λ̄ x_{k−1} + B̄ u_k`,
        `y_k = Re(C x_k) + D u_k`.

        Args:
            inputs_t: `(batch, H)` float.
            state: `(batch, H, N)` complex64, from `get_initial_state` or the
                previous step.

        Returns:
            `(outputs_t, new_state)`, `(batch, H)` and `(batch, H, N)`.
        """
        self._check_streaming()
        self._check_step_input(inputs_t)
        check_step_scale(step_scale)
        log_z, b_scale, system = self._discrete(step_scale, self._streaming_length())
        u = ops.cast(inputs_t, "float32")
        state = ops.exp(log_z) * state + (b_scale * system["B"]) * ops.cast(u, "complex64")[..., None]
        y = ops.real(ops.sum(system["C"] * state, axis=-1)) + self.D * u
        return ops.cast(y, self.compute_dtype), state
