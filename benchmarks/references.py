"""The reference implementations of S5, S4D and DSS, re-implemented for timing.

`benchmarks/layers.py` times our layers next to the way the three official
repositories compute theirs, in the same run, on the same machine. Each
reference below reproduces HOW its repository computes the bare SSM (no GELU,
no output projection, no dropout), in that repository's framework, dtype,
parameter storage and tensor layout, as described in the research dossier
`/work/shared/research/anchors-ssm.md` (sections given below) and timed in
`/work/shared/research/peer-bench.md` ("Configurations"). No code was copied
from those repositories: everything here is written anew from the formulas.

- `s5` / `s5bi` (JAX, complex64): `S5SSM` and `apply_ssm` of
  lindermanlab/S5 `s5/ssm.py` (commit 3c18fdb; dossier 1.1, 1.3-1.5). Raw
  parameters `Lambda_re`, `Lambda_im` (P',), `B` (P', H, 2), `C` (H, P', 2)
  (bidirectional: `C1`, `C2`, concatenated to (H, 2P')), `D` (H,),
  `log_step` (P', 1). ZOH discretization inside the call; per example:
  `B̄ u_k` by a vmap over time, `jax.lax.associative_scan` with the operator
  `(a_i, b_i) ∘ (a_j, b_j) = (a_j a_i, a_j b_i + b_j)` (itself vmapped, as in
  the repository) over `(Λ̄ · ones((L, P')), B̄u)`, a second scan with
  `reverse=True` when bidirectional, `y_k = 2 Re(C̃ x_k) + D u_k`. The
  per-example function is `jax.vmap`ped over the batch with the parameters
  broadcast (what the repository's `nn.vmap(variable_axes={"params": None})`
  does). Layout (B, L, H). -> `s5_apply`.
- `s4d` (torch): `S4DKernel` of the minimal S4D, state-spaces/s4
  `models/s4/s4d.py` (commit e757cef; dossier 2.1, 2.5): `log_dt` (H,),
  `log_A_real`, `A_imag` (H, N/2), `C` complex (H, N/2) stored as its real
  view (H, N/2, 2), `D` (H,); the naive Vandermonde kernel that materialises
  `exp(dtA · l)` as an (H, N/2, L) complex tensor. -> `s4d_kernel`.
- `dss` (torch): `DSSKernel` with `version="softmax"`, ag1988/dss
  `src/models/sequence/ss/standalone/dss.py` (commit 777084e; dossier 3.1):
  `Lambda` (N, 2) shared by all features, `log_dt` (H, 2) (separate steps
  for Re and Im of Λ, the repository's default), `W` (H, N, 2), `D` (H,);
  N complex modes (no conjugate halving), the explicit (H, N, L) exponent,
  the max-subtraction (computed without gradient, as there) for modes with
  Re Λ > 0, the ε-reciprocal normalisation, `Re` of the einsum.
  -> `dss_softmax_kernel`.
- Both torch references then convolve as their modules do, in layout
  (B, H, L): `irfft(rfft(u, n=2L) · rfft(k, n=2L), n=2L)[..., :L] + D u`.
  -> `fft_conv`.

Deviations, none of which changes the computed system: DSS's kernel
`channels` axis (1 here) is dropped, so `W` is (H, N, 2) and `D` (H,) rather
than (1, H, N, 2) and (1, H); its einsum goes through `torch.einsum` instead
of `opt_einsum.contract` (the same contraction), and the real part is taken
with `.real` rather than `.float()` (which takes the real part with a
warning). Our S4D keeps a learned `B` (the minimal S4D has `B = 1`), so
`reference_params` folds it into the reference's `C`.
"""

import numpy as np

FRAMEWORK = {"s4d": "torch", "dss": "torch", "s5": "jax", "s5bi": "jax"}


# -- our layers and their parameters in the references' storage ---------------


def our_layer(name, state_dim=64, seed=0):
    """Our Keras layer with the same system as the reference `name`, unbuilt."""
    import keras_ssm

    if name == "s4d":
        return keras_ssm.S4DLayer(state_dim=state_dim, seed=seed)
    if name == "dss":
        return keras_ssm.DSSLayer(state_dim=state_dim, variant="softmax", seed=seed)
    if name in ("s5", "s5bi"):
        return keras_ssm.S5Layer(
            state_dim=state_dim, blocks=4, bidirectional=name == "s5bi", seed=seed
        )
    raise ValueError(f"Unknown reference {name!r}; expected one of {sorted(FRAMEWORK)}.")


def _value(variable):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), np.float64)


def _complex(layer, prefix):
    return _value(getattr(layer, prefix + "_re")) + 1j * _value(getattr(layer, prefix + "_im"))


def _re_im(z):
    """A complex array stored as a trailing (re, im) axis, float32."""
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


def reference_params(name, layer):
    """The parameters of our built `layer`, in the reference's own storage:
    a dict of float32 numpy arrays (complex ones as a trailing re/im axis)."""
    if name == "s4d":
        if layer.real_transform != "exp" or layer.discretization != "zoh" or layer.bidirectional:
            raise ValueError("The S4D reference is unidirectional ZOH with Re A = -exp(log_A_real).")
        # The minimal S4D has B = 1: our B is folded into its C (C B B̄/B = same kernel).
        c = _complex(layer, "C") * _complex(layer, "B")
        return {
            "log_dt": _value(layer.log_dt).astype(np.float32),
            "log_A_real": _value(layer.a_real).astype(np.float32),
            "A_imag": _value(layer.a_imag).astype(np.float32),
            "C": _re_im(c),
            "D": _value(layer.D).astype(np.float32),
        }
    if name == "dss":
        if layer.variant != "softmax" or not layer.separate_dt or layer.bidirectional:
            raise ValueError("The DSS reference is unidirectional DSS-softmax with separate Re/Im steps.")
        lam = _value(layer.re_param) + 1j * _value(layer.im_param)  # softmax: Re Λ and Im Λ themselves
        return {
            "log_dt": _value(layer.log_dt).astype(np.float32),  # (H, 2): steps of Re Λ, Im Λ
            "Lambda": _re_im(lam),  # (N, 2), shared by all features
            "W": _re_im(_complex(layer, "W")),  # (H, N, 2)
            "D": _value(layer.D).astype(np.float32),
        }
    if name in ("s5", "s5bi"):
        if layer.discretization != "zoh" or layer.clip_eigs or not layer.conj_sym:
            raise ValueError("The S5 reference is conj_sym ZOH without clip_eigs.")
        if layer.bidirectional != (name == "s5bi"):
            raise ValueError(f"{name!r} needs bidirectional={name == 's5bi'}.")
        params = {
            "Lambda_re": _value(layer.lambda_re).astype(np.float32),
            "Lambda_im": _value(layer.lambda_im).astype(np.float32),
            "B": _re_im(_complex(layer, "B")),  # (P', H, 2)
            "D": _value(layer.D).astype(np.float32),
            "log_step": _value(layer.log_step)[:, None].astype(np.float32),  # (P', 1)
        }
        if name == "s5bi":
            params["C1"] = _re_im(_complex(layer, "C"))  # (H, P', 2)
            params["C2"] = _re_im(_complex(layer, "C_backward"))
        else:
            params["C"] = _re_im(_complex(layer, "C"))
        return params
    raise ValueError(f"Unknown reference {name!r}; expected one of {sorted(FRAMEWORK)}.")


# -- S5 (JAX) ---------------------------------------------------------------------


def s5_apply(params, u, bidirectional=False):
    """One example of the S5 SSM: `u` (L, H) float32 -> `y` (L, H).

    Discretizes from the raw parameters on every call (the repository does it
    in `setup`, i.e. inside the applied function).
    """
    import jax
    import jax.numpy as jnp

    lam = params["Lambda_re"] + 1j * params["Lambda_im"]  # (P',)
    b_tilde = params["B"][..., 0] + 1j * params["B"][..., 1]  # (P', H)
    if bidirectional:
        c1 = params["C1"][..., 0] + 1j * params["C1"][..., 1]
        c2 = params["C2"][..., 0] + 1j * params["C2"][..., 1]
        c_tilde = jnp.concatenate([c1, c2], axis=-1)  # (H, 2P')
    else:
        c_tilde = params["C"][..., 0] + 1j * params["C"][..., 1]  # (H, P')
    step = jnp.exp(params["log_step"][:, 0])  # one Δ per state

    # ZOH: Λ̄ = exp(ΛΔ), B̄ = (Λ̄ − 1)/Λ · B̃ (row-wise).
    lam_bar = jnp.exp(lam * step)
    b_bar = ((lam_bar - jnp.ones(lam.shape[0])) / lam)[:, None] * b_tilde

    # Scan elements: Λ̄ repeated along time, and B̄ u_k for every step.
    length = u.shape[0]
    a_elements = lam_bar * jnp.ones((length, lam_bar.shape[0]))
    bu_elements = jax.vmap(lambda u_k: b_bar @ u_k)(u)

    @jax.vmap
    def combine(earlier, later):
        a_i, b_i = earlier
        a_j, b_j = later
        return a_j * a_i, a_j * b_i + b_j

    _, states = jax.lax.associative_scan(combine, (a_elements, bu_elements))
    if bidirectional:
        _, backward = jax.lax.associative_scan(combine, (a_elements, bu_elements), reverse=True)
        states = jnp.concatenate([states, backward], axis=-1)

    y = jax.vmap(lambda x_k: 2 * (c_tilde @ x_k).real)(states)  # conj_sym: 2 Re(C̃ x)
    return y + jax.vmap(lambda u_k: params["D"] * u_k)(u)


def s5_forward(params, x, bidirectional=False):
    """S5 over a batch `x` (B, L, H): the per-example function vmapped, the
    parameters broadcast."""
    import jax

    return jax.vmap(lambda u: s5_apply(params, u, bidirectional), in_axes=0)(x)


# -- S4D and DSS (torch) ------------------------------------------------------------


def s4d_kernel(params, length):
    """The minimal S4D's convolution kernel, (H, L) float32."""
    import torch

    dt = torch.exp(params["log_dt"])  # (H,)
    c = torch.view_as_complex(params["C"])  # (H, N/2)
    a = -torch.exp(params["log_A_real"]) + 1j * params["A_imag"]  # (H, N/2)
    dt_a = a * dt.unsqueeze(-1)
    # The naive Vandermonde: every power exp(dtA · l) is materialised.
    exponents = dt_a.unsqueeze(-1) * torch.arange(length, device=a.device)  # (H, N/2, L)
    c = c * (torch.exp(dt_a) - 1.0) / a  # ZOH: C (exp(dtA) − 1)/A
    return 2 * torch.einsum("hn,hnl->hl", c, torch.exp(exponents)).real


def _dss_reciprocal(x, epsilon=1e-7):
    """DSS's bounded reciprocal: conj(x) / (x conj(x) + ε)."""
    x_conj = x.conj()
    return x_conj / (x * x_conj + epsilon)


def dss_softmax_kernel(params, length, epsilon=1e-7):
    """DSS-softmax's convolution kernel, (H, L) float32.

    K_l = Re Σ_n W_n / Λ_n · exp(x_n l) / Σ_{j<L} exp(x_n j), x = Δ_re Re Λ + i Δ_im Im Λ,
    the row sum in closed form; modes with Re Λ > 0 are shifted by their last
    (largest) exponent, the shift being a constant for autograd.
    """
    import torch

    lam = torch.view_as_complex(params["Lambda"])  # (N,)
    w = torch.view_as_complex(params["W"])  # (H, N)
    # Separate steps: Δ_0 scales Re Λ, Δ_1 scales Im Λ.
    x = torch.view_as_complex(
        torch.exp(params["log_dt"]).unsqueeze(1) * params["Lambda"].unsqueeze(0)
    )  # (H, N)
    exponents = x.unsqueeze(-1) * torch.arange(length, device=w.device)  # (H, N, L)

    growing = lam.real > 0  # (N,)
    if growing.any():
        with torch.no_grad():
            shift = x * (growing * (length - 1))  # (H, N)
        exponents = exponents - shift.unsqueeze(-1)
    powers = torch.exp(exponents)  # (H, N, L)

    # 1 / Σ_j exp(x_shifted j) = (e^{x'} − 1) / (e^{x' L} − 1) with x' = ±x.
    x_signed = x * (1 - 2 * growing.to(x.real.dtype))
    numerator = torch.exp(x_signed) - 1
    denominator = torch.exp(x_signed * length) - 1
    w = w * numerator * _dss_reciprocal(denominator * lam, epsilon)
    return torch.einsum("hn,hnl->hl", w, powers).real


def fft_conv(u, k, d):
    """The S4 / DSS convolution: `u` (B, H, L), kernel `k` (H, L), skip `d` (H,).

    A linear (not circular) convolution through FFTs of length 2L, then the
    `D u` skip term.
    """
    import torch

    length = u.shape[-1]
    n = 2 * length
    k_f = torch.fft.rfft(k, n=n)
    u_f = torch.fft.rfft(u, n=n)
    y = torch.fft.irfft(u_f * k_f, n=n)[..., :length]
    return y + u * d.unsqueeze(-1)


def s4d_forward(params, u):
    """The bare S4D layer (kernel + FFT conv + D) on `u` (B, H, L)."""
    return fft_conv(u, s4d_kernel(params, u.shape[-1]), params["D"])


def dss_forward(params, u):
    """The bare DSS-softmax layer (kernel + FFT conv + D) on `u` (B, H, L)."""
    return fft_conv(u, dss_softmax_kernel(params, u.shape[-1]), params["D"])


TORCH_FORWARD = {"s4d": s4d_forward, "dss": dss_forward}


# -- the timed callables ------------------------------------------------------------


def _check_name(name):
    if name not in FRAMEWORK:
        raise ValueError(f"Unknown reference {name!r}; expected one of {sorted(FRAMEWORK)}.")


def _jax_setup(name, params, x):
    import jax.numpy as jnp

    bidirectional = name == "s5bi"
    params = {key: jnp.asarray(value) for key, value in params.items()}
    x = jnp.asarray(np.asarray(x, np.float32))

    def forward(p, inputs):
        return s5_forward(p, inputs, bidirectional)

    return forward, params, x


def _torch_setup(name, params, x):
    import torch

    params = {key: torch.tensor(np.asarray(value)) for key, value in params.items()}
    # (B, L, H) -> the references' (B, H, L), once, outside the timed calls.
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 2, 1)))
    return TORCH_FORWARD[name], params, x


def reference_steps(name, params, x):
    """`{"fwd": f, "fwdbwd": g}`, callables of no arguments for the harness.

    `params` from `reference_params`, `x` (B, L, H) float32 numpy. JAX: jitted
    forward and jitted `value_and_grad` of `sum(y²)` w.r.t. the parameters
    and the input, each call blocking until ready. torch: the forward under
    `no_grad`; fwd+bwd resets the parameters' gradients, makes `x` a leaf
    that requires grad, runs `backward()` and returns `(loss, grads)` with
    grads the parameters' (in `params` order) then the input's.
    """
    _check_name(name)
    if FRAMEWORK[name] == "jax":
        import jax
        import jax.numpy as jnp

        forward, params, x = _jax_setup(name, params, x)

        def loss(p, inputs):
            return jnp.sum(forward(p, inputs) ** 2)

        fwd = jax.jit(forward)
        fwdbwd = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return {
            "fwd": lambda: jax.block_until_ready(fwd(params, x)),
            "fwdbwd": lambda: jax.block_until_ready(fwdbwd(params, x)),
            # For the memory measurement: XLA's own account of the buffers.
            "compile_fwdbwd": lambda: fwdbwd.lower(params, x).compile(),
        }

    import torch

    forward, params, x = _torch_setup(name, params, x)
    leaves = list(params.values())
    for p in leaves:
        p.requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return forward(params, x)

    def fwdbwd():
        for p in leaves:
            p.grad = None
        inputs = x.detach().requires_grad_(True)
        loss = torch.sum(forward(params, inputs) ** 2)
        loss.backward()
        return loss, [p.grad for p in leaves] + [inputs.grad]

    return {"fwd": fwd, "fwdbwd": fwdbwd}


def reference_forward(name, params, x):
    """The reference's output on `x` (B, L, H), as float32 numpy (B, L, H)."""
    _check_name(name)
    if FRAMEWORK[name] == "jax":
        import jax

        forward, params, x = _jax_setup(name, params, x)
        return np.asarray(jax.jit(forward)(params, x))

    import torch

    forward, params, x = _torch_setup(name, params, x)
    with torch.no_grad():
        y = forward(params, x)
    return y.numpy().transpose(0, 2, 1)
