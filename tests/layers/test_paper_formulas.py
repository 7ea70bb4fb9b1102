"""The layers against the papers' own formulas, written here from the raw
variables in float64 numpy.

The oracle of the other tests (`keras_ssm.simulate`) runs `ssm_parameters()`,
which comes from the same `_system` code as the forward pass: it cannot see an
error in that shared step. These tests start from the stored weights instead,
and from the papers' definitions (S4D paper §3 and its official s4d.py; DSS
paper §3.2; S5 paper §3 and its ssm_init.py; see anchors-ssm.md), so a wrong
sign, factor or parameterisation shows up.
"""

import numpy as np
import pytest
import scipy.linalg

from keras_ssm import DSSLayer, S4DLayer, S5Layer, hippo
from tests.layer_test_case import inputs, numpy, relative_error

H = 4


def f64(variable):
    return numpy(variable).astype(np.float64)


def assign(variable, value):
    variable.assign(np.asarray(value, "float32"))


def conv(kernel, u, kernel_backward=None):
    """`y_t = Σ_{s≤t} K_{t−s} u_s (+ Σ_{s>t} K^b_{s−t−1} u_s)`, by definition."""
    length = u.shape[1]
    lag = np.arange(length)[:, None] - np.arange(length)[None, :]  # t − s
    toeplitz = np.where(lag >= 0, kernel[:, np.maximum(lag, 0)], 0.0)  # (H, t, s)
    if kernel_backward is not None:
        toeplitz += np.where(lag < 0, kernel_backward[:, np.maximum(-lag - 1, 0)], 0.0)
    return np.einsum("hts,bsh->bth", toeplitz, u)


# -- HiPPO, from the HiPPO / S4 / DSS papers (not from keras_ssm.hippo) ------


def hippo_legs(n):
    """HiPPO-LegS: A[n,k] = −√(2n+1)√(2k+1) (n > k), −(n+1) (n = k), 0 above; B_n = √(2n+1)."""
    q = np.arange(n)
    a = -np.sqrt(2 * q[:, None] + 1) * np.sqrt(2 * q[None, :] + 1)
    a = np.where(q[:, None] > q[None, :], a, 0.0) - np.diag(q + 1.0)
    return a, np.sqrt(2 * q + 1.0)


def hippo_normal(n):
    """The normal part S = A + p pᵀ, p_n = √(n + ½) (S4 / S5 papers)."""
    p = np.sqrt(np.arange(n) + 0.5)
    return hippo_legs(n)[0] + np.outer(p, p)


# -- S4D ---------------------------------------------------------------------


def s4d_paper_kernel(layer, length, step_scale=1.0):
    """S4D (paper §3, s4d.py): A = −f(a_real) + i a_imag, dtA = Δ A;
    ZOH:      K = 2 Re Σ C B (e^{dtA} − 1)/A · e^{dtA l}
    bilinear: K = 2 Re Σ C B Δ/(1 − dtA/2) · ((1 + dtA/2)/(1 − dtA/2))^l."""
    a = f64(layer.a_real)
    neg_re = {"exp": np.exp(a), "relu": np.maximum(a, 0.0) + 1e-4, "none": np.maximum(a, 1e-4)}
    A = -neg_re[layer.real_transform] + 1j * f64(layer.a_imag)
    B = f64(layer.B_re) + 1j * f64(layer.B_im)
    dt = (np.exp(f64(layer.log_dt)) * step_scale)[:, None]
    dtA = dt * A
    kernels = []
    for name in ("C", "C_backward") if layer.bidirectional else ("C",):
        C = f64(getattr(layer, f"{name}_re")) + 1j * f64(getattr(layer, f"{name}_im"))
        l = np.arange(length)
        if layer.discretization == "zoh":
            terms = (C * B * (np.exp(dtA) - 1) / A)[..., None] * np.exp(dtA[..., None] * l)
        else:
            dA = (1 + dtA / 2) / (1 - dtA / 2)
            terms = (C * B * dt / (1 - dtA / 2))[..., None] * dA[..., None] ** l
        kernels.append(2 * np.real(terms.sum(axis=1)))
    return kernels


def perturb_s4d(layer, rng, negative_real=False):
    """Random raw variables, so that nothing rests on the init's symmetries
    (B = 1, equal steps, a pattern of Λ)."""
    shape = layer.a_imag.shape
    neg_re = rng.uniform(0.05, 1.0, shape)
    stored = {"exp": np.log(neg_re), "relu": neg_re, "none": neg_re}[layer.real_transform]
    if negative_real:  # below the clip of "none" / "relu": Re Λ = −1e-4
        stored[0, :2] = -0.3
    assign(layer.a_real, stored)
    assign(layer.a_imag, rng.normal(0, 10, shape))
    for name in ("B_re", "B_im", "C_re", "C_im") + (("C_backward_re", "C_backward_im") if layer.bidirectional else ()):
        assign(getattr(layer, name), rng.standard_normal(shape))
    assign(layer.log_dt, np.log(rng.uniform(1e-3, 1e-1, layer.log_dt.shape)))


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("perturbed", [False, True])
def test_s4d_kernel_is_the_papers_formula(discretization, perturbed):
    layer = S4DLayer(state_dim=16, init="legs", discretization=discretization, seed=0)
    layer.build((None, None, H))
    if perturbed:
        perturb_s4d(layer, np.random.default_rng(1))
    for step_scale in (1.0, 0.6):
        (expected,) = s4d_paper_kernel(layer, 200, step_scale)
        assert relative_error(numpy(layer.kernel(200, step_scale=step_scale)), expected) <= 1e-5
    # The call is that kernel's causal convolution plus D u.
    u = inputs(50)
    y = conv(s4d_paper_kernel(layer, 50)[0], u) + f64(layer.D) * u
    assert relative_error(numpy(layer(u)), y) <= 1e-5


@pytest.mark.parametrize("real_transform, negative_real", [("relu", False), ("none", False), ("none", True)])
def test_s4d_real_transforms_in_the_papers_kernel(real_transform, negative_real):
    layer = S4DLayer(state_dim=8, init="lin", real_transform=real_transform, seed=0)
    layer.build((None, None, H))
    perturb_s4d(layer, np.random.default_rng(2), negative_real)
    (expected,) = s4d_paper_kernel(layer, 100)
    assert relative_error(numpy(layer.kernel(100)), expected) <= 1e-5


def test_s4d_bidirectional_call_is_the_two_sided_convolution():
    # S4: the backward kernel (its own C; shared A, B, Δ) sees strictly future inputs.
    layer = S4DLayer(state_dim=8, init="inv", bidirectional=True, seed=0)
    layer.build((None, None, H))
    perturb_s4d(layer, np.random.default_rng(3))
    u = inputs(40)
    forward, backward = s4d_paper_kernel(layer, 40)
    y = conv(forward, u, backward) + f64(layer.D) * u
    assert relative_error(numpy(layer(u)), y) <= 1e-5


# -- DSS ---------------------------------------------------------------------


def dss_exp_paper_kernel(layer, length, step_scale=1.0):
    """DSS-exp (paper §3.2, Prop. 1): Λ = −exp(a) + i Λ_im, ΔΛ = Δ Λ (or, with
    separate steps, Δ_re Re Λ + i Δ_im Im Λ), K = Re Σ W Λ^{-1}(e^{ΔΛ} − 1) e^{ΔΛ l}."""
    lam = -np.exp(f64(layer.re_param)) + 1j * f64(layer.im_param)  # (N,): shared by the features
    dt = np.exp(f64(layer.log_dt)) * step_scale
    if layer.separate_dt:
        dlam = dt[:, :1] * lam.real + 1j * dt[:, 1:] * lam.imag
    else:
        dlam = dt[:, None] * lam
    W = f64(layer.W_re) + 1j * f64(layer.W_im)
    terms = (W / lam * (np.exp(dlam) - 1))[..., None] * np.exp(dlam[..., None] * np.arange(length))
    return np.real(terms.sum(axis=1))


@pytest.mark.parametrize("separate_dt", [True, False])
@pytest.mark.parametrize("perturbed", [False, True])
def test_dss_exp_kernel_is_the_papers_formula(separate_dt, perturbed):
    layer = DSSLayer(state_dim=8, variant="exp", separate_dt=separate_dt, seed=0)
    layer.build((None, None, H))
    if perturbed:  # a spectrum off the init, and different steps for Re and Im
        rng = np.random.default_rng(4)
        assign(layer.re_param, np.log(rng.uniform(0.05, 1.0, 8)))
        assign(layer.im_param, rng.normal(0, 10, 8))
        assign(layer.log_dt, np.log(rng.uniform(1e-3, 1e-1, layer.log_dt.shape)))
    for step_scale in (1.0, 1.7):
        expected = dss_exp_paper_kernel(layer, 200, step_scale)
        assert relative_error(numpy(layer.kernel(200, step_scale=step_scale)), expected) <= 1e-5
    u = inputs(50)
    y = conv(dss_exp_paper_kernel(layer, 50), u) + f64(layer.D) * u
    assert relative_error(numpy(layer(u)), y) <= 1e-5


def dss_reference_kernel(layer, length):
    """The reference's `DSSKernel.forward` for its exponential versions, from
    the raw variables: `_Lambda()` per version (exp: −exp(a) + i Λ_im;
    exp-re-im: + i exp(b); clip: min(a, 1e-4) + i Λ_im), then
    K = Re Σ W (e^{ΔΛ} − 1) Λ^{-1} e^{ΔΛ l}, without the factor for no-scale."""
    a, b = f64(layer.re_param), f64(layer.im_param)
    re = -np.exp(a) if layer.variant.startswith("exp") else np.minimum(a, 1e-4)
    im = np.exp(b) if layer.variant == "exp-re-im" else b
    lam = re + 1j * im
    dt = np.exp(f64(layer.log_dt))
    dlam = dt[:, :1] * lam.real + 1j * dt[:, 1:] * lam.imag
    W = f64(layer.W_re) + 1j * f64(layer.W_im)
    if not layer.variant.endswith("no-scale"):
        W = W * (np.exp(dlam) - 1) / lam
    return np.real((W[..., None] * np.exp(dlam[..., None] * np.arange(length))).sum(axis=1))


@pytest.mark.parametrize("variant", ["exp-re-im", "exp-no-scale", "clip", "clip-no-scale"])
def test_dss_versions_are_the_references(variant):
    layer = DSSLayer(state_dim=8, variant=variant, seed=0)
    layer.build((None, None, H))
    if variant.startswith("clip"):  # one mode above the clip: Re Λ is held at 1e-4
        values = f64(layer.re_param).copy()
        values[0] = 0.3
        assign(layer.re_param, values)
    expected = dss_reference_kernel(layer, 200)
    assert relative_error(numpy(layer.kernel(200)), expected) <= 1e-5
    if variant.startswith("clip"):
        assert np.isclose(layer.ssm_parameters()["Lambda"][:, 0].real / np.exp(f64(layer.log_dt)[:, 0]), 1e-4).all()


# -- S5 ----------------------------------------------------------------------


def dense_s5(layer, blocks):
    """The real P×P system the S5 paper diagonalises: A = block_diag(S_R, ...)
    (HiPPO-N, from the formula), and, through the layer's eigenvectors V (so
    x̃ = V⁻¹ x), B₀ = V B̃ + conj(V B̃) = 2 Re(V B̃) and C₀ = 2 Re(C̃ V⁻¹): with
    conj_sym the modal state holds one of each conjugate pair."""
    p = layer.state_dim
    A = np.kron(np.eye(blocks), hippo_normal(p // blocks))
    _, V, V_inv = hippo.block_hippo(p, blocks, conj_sym=True)
    lam = f64(layer.lambda_re) + 1j * f64(layer.lambda_im)
    # The layer's spectrum and V diagonalise A (the init is HiPPO-N).
    np.testing.assert_allclose(2 * np.real(V @ np.diag(lam) @ V_inv), A, atol=1e-5)
    B = 2 * np.real(V @ (f64(layer.B_re) + 1j * f64(layer.B_im)))
    C = 2 * np.real((f64(layer.C_re) + 1j * f64(layer.C_im)) @ V_inv)
    return A, B, C


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("c_init", ["trunc_standard", "complex_normal"])
def test_s5_conj_sym_equals_the_dense_real_system(discretization, c_init):
    blocks, step = 2, 0.05
    layer = S5Layer(state_dim=16, blocks=blocks, discretization=discretization, c_init=c_init, seed=0)
    layer.build((None, None, H))
    # One Δ for every state: then the diagonal system is exactly the dense one.
    assign(layer.log_step, np.full(layer.log_step.shape, np.log(step)))
    A, B, C = dense_s5(layer, blocks)
    eye = np.eye(len(A))
    if discretization == "zoh":  # Ā = e^{AΔ}, B̄ = A⁻¹(Ā − I) B
        a_bar = scipy.linalg.expm(A * step)
        b_bar = np.linalg.solve(A, (a_bar - eye) @ B)
    else:  # Ā = (I − AΔ/2)⁻¹(I + AΔ/2), B̄ = (I − AΔ/2)⁻¹ Δ B
        a_bar = np.linalg.solve(eye - A * step / 2, eye + A * step / 2)
        b_bar = np.linalg.solve(eye - A * step / 2, step * B)
    u = inputs(64).astype(np.float64)
    x = np.zeros((u.shape[0], len(A)))
    y = np.zeros_like(u)
    for k in range(u.shape[1]):
        x = x @ a_bar.T + u[:, k] @ b_bar.T
        y[:, k] = x @ C.T + f64(layer.D) * u[:, k]
    assert relative_error(numpy(layer(u.astype("float32"))), y) <= 1e-4


# -- initial distributions ---------------------------------------------------
#
# Sample sizes of a few thousand; every bound is about 5 standard errors of
# the statistic (the sample variance of n normal draws has a relative
# standard error of √(2/n); that of a truncated normal is smaller).

WIDE = 256  # features, for sample sizes


def check_variance(values, expected, name):
    values = np.ravel(values)
    n = values.size
    assert abs(values.mean()) <= 5 * np.sqrt(expected / n), f"{name}: mean {values.mean():.3g}"
    ratio = values.var() / expected
    assert abs(ratio - 1) <= 5 * np.sqrt(2 / n), f"{name}: variance {ratio:.3f} x the expected {expected:.3g}"


def check_log_uniform(log_step, dt_min=1e-3, dt_max=1e-1):
    # Δ ~ log-uniform on [dt_min, dt_max]: log Δ uniform, of variance (b − a)²/12.
    low, high = np.log(dt_min), np.log(dt_max)
    values = np.ravel(log_step)
    assert values.min() >= low - 1e-6 and values.max() <= high + 1e-6
    sd = (high - low) / np.sqrt(12)
    assert abs(values.mean() - (low + high) / 2) <= 5 * sd / np.sqrt(values.size)


def test_s4d_initial_distributions():
    layer = S4DLayer(state_dim=64, init="lin", seed=0)
    layer.build((None, None, WIDE))
    # C: complex standard normal (variance 1: real and imaginary parts 1/2 each).
    check_variance(f64(layer.C_re), 0.5, "Re C")
    check_variance(f64(layer.C_im), 0.5, "Im C")
    c = f64(layer.C_re) + 1j * f64(layer.C_im)
    assert abs(np.mean(np.abs(c) ** 2) - 1) <= 5 * np.sqrt(1 / c.size)  # |C|² ~ Exp(1): sd 1
    check_variance(f64(layer.D), 1.0, "D")  # D ~ N(0, 1)
    assert layer.log_dt.shape == (WIDE,)  # one step per feature
    check_log_uniform(f64(layer.log_dt))


@pytest.mark.parametrize("init", ["lin", "inv", "legs"])
def test_s4d_initial_spectra_are_the_papers(init):
    n_state = 16
    layer = S4DLayer(state_dim=n_state, init=init, seed=0)
    layer.build((None, None, H))
    lam = -np.exp(f64(layer.a_real)) + 1j * f64(layer.a_imag)
    b = f64(layer.B_re) + 1j * f64(layer.B_im)
    n = np.arange(n_state // 2)
    if init == "lin":  # S4D-Lin: A_n = −½ + iπn, B = 1
        expected = -0.5 + 1j * np.pi * n
    elif init == "inv":  # S4D-Inv: A_n = −½ + i (N/π)(N/(2n+1) − 1), B = 1
        expected = -0.5 + 1j * (n_state / np.pi) * (n_state / (2 * n + 1) - 1)
    else:  # S4D-LegS: the spectrum of the normal HiPPO-LegS, one per conjugate pair
        eigenvalues, vectors = np.linalg.eig(hippo_normal(n_state))
        half = eigenvalues.imag < 0
        order = np.argsort(eigenvalues.imag[half])
        expected = eigenvalues[half][order]
    # The modes in order of Im Λ (the order is free), the same for every feature.
    got = lam[:, np.argsort(lam[0].imag)]
    np.testing.assert_allclose(got, np.broadcast_to(np.sort(expected.imag) * 1j - 0.5, got.shape), atol=1e-4)
    np.testing.assert_allclose(expected.real, -0.5, atol=1e-9)
    if init != "legs":
        np.testing.assert_array_equal(b, 1.0)
        return
    # S4D-LegS: B = Vᴴ B_legs with (B_legs)_n = √(2n+1), Im B clipped to [−2, 2]
    # (S4's code). The eigenvectors' phases are free, so compare |B|, which is
    # not: unclipped modes have |B_n| = |v_nᴴ B_legs|, clipped ones |Im B| = 2
    # and a real part unchanged, so |B_n| ≤ |v_nᴴ B_legs|.
    b = b[0, np.argsort(lam[0].imag)]
    v = vectors[:, half][:, order] / np.linalg.norm(vectors[:, half][:, order], axis=0)
    full = np.abs(v.conj().T @ hippo_legs(n_state)[1])
    clipped = np.isclose(np.abs(b.imag), 2.0, atol=1e-6)
    assert np.all(np.abs(b.imag) <= 2.0 + 1e-6) and clipped.any()
    np.testing.assert_allclose(np.abs(b[~clipped]), full[~clipped], rtol=1e-4)
    assert np.all(np.abs(b[clipped]) <= full[clipped] * (1 + 1e-5))


def test_dss_initial_distributions_and_spectrum():
    n = 32
    layer = DSSLayer(state_dim=n, variant="exp", seed=0)
    layer.build((None, None, WIDE))
    # Skew-HiPPO: the 2N eigenvalues ±iω of the skew part of the size-2N HiPPO
    # matrix M[n,k] = √((2n+1)(2k+1)) (n > k); keep the N with ω > 0, Λ = −½ + iω.
    q = np.arange(2 * n)
    m = np.where(q[:, None] > q[None, :], np.sqrt((2 * q[:, None] + 1) * (2 * q[None, :] + 1)), 0.0)
    omega = np.sort(np.linalg.eigvals((m - m.T) / 2).imag)[::-1][:n]
    np.testing.assert_allclose(-np.exp(f64(layer.re_param)), -0.5, rtol=1e-6)
    np.testing.assert_allclose(np.sort(f64(layer.im_param))[::-1], omega, rtol=1e-5, atol=1e-4)
    # W: real and imaginary parts N(0, 1); D ~ N(0, 1).
    check_variance(f64(layer.W_re), 1.0, "Re W")
    check_variance(f64(layer.W_im), 1.0, "Im W")
    check_variance(f64(layer.D), 1.0, "D")
    # One log-uniform step per feature, tiled to (H, 2) for Re and Im.
    log_dt = f64(layer.log_dt)
    assert log_dt.shape == (WIDE, 2)
    np.testing.assert_array_equal(log_dt[:, 0], log_dt[:, 1])
    check_log_uniform(log_dt[:, 0])


def test_s5_initial_B_is_lecun_normal_in_the_dense_basis():
    p = 64
    layer = S5Layer(state_dim=p, blocks=4, seed=0)
    layer.build((None, None, WIDE))
    _, V, _ = hippo.block_hippo(p, 4, conj_sym=True)
    # B̃ = V⁻¹ B₀ with B₀ (P, H) lecun-normal: truncated at ±2σ, variance 1/P
    # (fan_in = P). The dense B₀ = V B̃ + conj(V B̃), as the other half of the
    # conjugate pairs is implied.
    b0 = 2 * np.real(V @ (f64(layer.B_re) + 1j * f64(layer.B_im)))
    check_variance(b0, 1 / p, "B0")
    # JAX's truncated normal: |z| ≤ 2 before the rescale by 1/0.8796 (the sd of
    # the truncated standard normal) that gives the variance exactly 1/P.
    assert np.abs(b0).max() * np.sqrt(p) <= 2 / 0.87962566103423978 + 1e-4
    assert layer.log_step.shape == (p // 2,)  # one step per state, not per feature
    check_log_uniform(f64(layer.log_step))
    check_variance(f64(layer.D), 1.0, "D")


@pytest.mark.parametrize(
    "c_init, variance",
    [("trunc_standard", lambda p, h: 1 / p), ("lecun", lambda p, h: 1 / (p * h)), ("complex_normal", lambda p, h: 0.5)],
)
def test_s5_initial_C(c_init, variance):
    # trunc_standard: each row lecun-normal over (1, P, 2), so per part 1/P;
    # lecun: one draw over (H, P, 2), fan_in P·H; both then C̃ = C V, which keeps
    # the per-part variance (V's columns are unit vectors). complex_normal:
    # drawn in the modal basis, parts N(0, ½).
    p = 64
    layer = S5Layer(state_dim=p, blocks=4, c_init=c_init, seed=0)
    layer.build((None, None, WIDE))
    check_variance(f64(layer.C_re), variance(p, WIDE), "Re C")
    check_variance(f64(layer.C_im), variance(p, WIDE), "Im C")
