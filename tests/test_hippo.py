"""Tests for keras_ssm.hippo (pure numpy initialisation math)."""

import doctest

import numpy as np
import pytest
import scipy.linalg

from keras_ssm import hippo


def test_docstring_examples_run():
    result = doctest.testmod(hippo, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


# --- HiPPO-LegS -------------------------------------------------------------


def test_legs_hand_values_n4():
    A, B = hippo.legs(4)
    s = np.sqrt
    expected_A = np.array(
        [
            [-1.0, 0.0, 0.0, 0.0],
            [-s(3), -2.0, 0.0, 0.0],
            [-s(5), -s(15), -3.0, 0.0],
            [-s(7), -s(21), -s(35), -4.0],
        ]
    )
    np.testing.assert_allclose(A, expected_A, rtol=1e-15, atol=0)
    np.testing.assert_allclose(B, [1.0, s(3), s(5), s(7)], rtol=1e-15, atol=0)
    assert A.dtype == np.float64 and B.dtype == np.float64
    assert A.shape == (4, 4) and B.shape == (4,)


def test_legs_structure():
    n = 16
    A, _ = hippo.legs(n)
    assert np.all(np.triu(A, 1) == 0)
    np.testing.assert_array_equal(np.diag(A), -(np.arange(n) + 1.0))
    assert np.all(np.tril(A, -1)[np.tril_indices(n, -1)] < 0)


def test_legs_normal_diag_and_skew():
    for n in (1, 2, 7, 64):
        S = hippo.legs_normal(n)
        A, _ = hippo.legs(n)
        p = np.sqrt(np.arange(n) + 0.5)  # S4's low-rank factor: A = S - p pᵀ
        np.testing.assert_allclose(S, A + np.outer(p, p), rtol=1e-14, atol=1e-14)
        np.testing.assert_array_equal(np.diag(S), -0.5)
        K = S + np.eye(n) / 2
        np.testing.assert_allclose(K, -K.T, rtol=0, atol=1e-14)


# --- Eigendecomposition of the normal part -----------------------------------


@pytest.mark.parametrize("n", [4, 16, 64])
def test_legs_normal_eig_full(n):
    Lambda, V = hippo.legs_normal_eig(n)
    S = hippo.legs_normal(n)
    assert Lambda.shape == (n,) and V.shape == (n, n)
    np.testing.assert_array_equal(Lambda.real, -0.5)
    assert np.all(np.diff(Lambda.imag) >= 0)  # eigh order: ascending
    np.testing.assert_allclose(V.conj().T @ V, np.eye(n), atol=1e-10)
    np.testing.assert_allclose(V @ np.diag(Lambda) @ V.conj().T, S, atol=1e-10)


@pytest.mark.parametrize("n", [4, 16, 64])
def test_legs_normal_eig_conj_sym(n):
    full, _ = hippo.legs_normal_eig(n)
    Lambda, V = hippo.legs_normal_eig(n, conj_sym=True)
    S = hippo.legs_normal(n)
    assert Lambda.shape == (n // 2,) and V.shape == (n, n // 2)
    assert np.all(Lambda.imag <= 0)
    np.testing.assert_allclose(Lambda, full[: n // 2])
    # The dropped half is the conjugate set of the kept half.
    np.testing.assert_allclose(
        np.sort(full[n // 2 :].imag), np.sort(-Lambda.imag), atol=1e-10
    )
    np.testing.assert_allclose(S @ V, V * Lambda, atol=1e-10)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(n // 2), atol=1e-10)


def test_legs_normal_eig_conj_sym_needs_even_n():
    with pytest.raises(ValueError, match="`n`"):
        hippo.legs_normal_eig(5, conj_sym=True)
    hippo.legs_normal_eig(5)  # fine without conjugate symmetry


# --- DSS -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 4, 32])
def test_skew_hippo(n):
    Lambda = hippo.skew_hippo(n)
    assert Lambda.shape == (n,) and Lambda.dtype == np.complex128
    np.testing.assert_array_equal(Lambda.real, -0.5)
    assert np.all(Lambda.imag > 0)
    assert np.all(np.diff(Lambda.imag) < 0)
    # Independent check: the top-n eigenvalues of the 2n x 2n skew matrix.
    q = np.arange(2 * n)
    M = np.where(
        q[:, None] > q[None, :], np.sqrt((2 * q[:, None] + 1) * (2 * q[None, :] + 1)), 0
    )
    eig = np.linalg.eigvals((M - M.T) / 2)
    np.testing.assert_allclose(eig.real, 0, atol=1e-8 * np.abs(eig).max())
    top = np.sort(eig.imag)[::-1][:n]
    np.testing.assert_allclose(Lambda.imag, top, rtol=1e-8)


def test_dss_random():
    a = hippo.dss_random(100, np.random.default_rng(3))
    b = hippo.dss_random(100, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100,) and a.dtype == np.complex128
    assert np.all(a.real < 0)
    assert np.all(np.isfinite(np.log(-a.real)))
    assert np.any(a.imag < 0) and np.any(a.imag > 0)  # imag ~ N(0, 1)


# --- S4D -----------------------------------------------------------------------


def test_s4d_lin_hand_values():
    Lambda = hippo.s4d_lin(8)
    np.testing.assert_allclose(Lambda, -0.5 + 1j * np.pi * np.array([0, 1, 2, 3]))


def test_s4d_inv_hand_values():
    Lambda = hippo.s4d_inv(8)
    expected = (8 / np.pi) * np.array([7.0, 5 / 3, 3 / 5, 1 / 7])
    np.testing.assert_array_equal(Lambda.real, -0.5)
    np.testing.assert_allclose(Lambda.imag, expected, rtol=1e-14)


@pytest.mark.parametrize("N", [8, 64])
def test_s4d_legs(N):
    Lambda, B = hippo.s4d_legs(N)
    eig, V = hippo.legs_normal_eig(N, conj_sym=True)
    np.testing.assert_allclose(Lambda, eig)
    assert B.shape == (N // 2,) and B.dtype == np.complex128
    assert np.all(np.abs(B.imag) <= 2)
    unclipped = V.conj().T @ hippo.legs(N)[1]
    np.testing.assert_allclose(B.real, unclipped.real)
    small = np.abs(unclipped.imag) <= 2
    np.testing.assert_allclose(B.imag[small], unclipped.imag[small])


def test_s4d_legs_clipping_is_active_at_64():
    _, V = hippo.legs_normal_eig(64, conj_sym=True)
    unclipped = V.conj().T @ hippo.legs(64)[1]
    assert np.abs(unclipped.imag).max() > 2  # so the clip above is exercised


def test_s4d_random_seeded():
    a = hippo.s4d_random(16, np.random.default_rng(0))
    b = hippo.s4d_random(16, np.random.default_rng(0))
    c = hippo.s4d_random(16, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(a.real, -0.5)
    assert np.all(a.imag > 0)


@pytest.mark.parametrize("name", ["legs", "inv", "lin", "random"])
def test_s4d_init_dispatch(name):
    N = 16
    Lambda, B = hippo.s4d_init(name, N, rng=np.random.default_rng(0))
    assert Lambda.shape == (N // 2,) and B.shape == (N // 2,)
    assert Lambda.dtype == np.complex128 and B.dtype == np.complex128
    if name == "legs":
        ref_Lambda, ref_B = hippo.s4d_legs(N)
        np.testing.assert_allclose(B, ref_B)
    else:
        np.testing.assert_array_equal(B, np.ones(N // 2))
        if name == "random":
            ref_Lambda = hippo.s4d_random(N, np.random.default_rng(0))
        else:
            ref_Lambda = getattr(hippo, f"s4d_{name}")(N)
    np.testing.assert_allclose(Lambda, ref_Lambda)


def test_s4d_init_random_without_rng():
    Lambda, _ = hippo.s4d_init("random", 8)
    assert Lambda.shape == (4,)


def test_s4d_init_unknown_name():
    with pytest.raises(ValueError, match="`init`") as info:
        hippo.s4d_init("fourier", 8)
    for allowed in ("legs", "inv", "lin", "random", "fourier"):
        assert allowed in str(info.value)


@pytest.mark.parametrize(
    "fn",
    [hippo.s4d_lin, hippo.s4d_inv, hippo.s4d_legs, lambda N: hippo.s4d_init("lin", N)],
)
@pytest.mark.parametrize("bad", [7, 0, -2])
def test_s4d_state_dim_must_be_positive_even(fn, bad):
    with pytest.raises(ValueError, match="`state_dim`"):
        fn(bad)


def test_s4d_random_state_dim_must_be_even():
    with pytest.raises(ValueError, match="`state_dim`"):
        hippo.s4d_random(7, np.random.default_rng(0))


# --- S5 block init -----------------------------------------------------------------


@pytest.mark.parametrize("conj_sym", [True, False])
def test_block_hippo_shapes_and_structure(conj_sym):
    P, J = 64, 4
    R = P // J
    Pp = P // 2 if conj_sym else P
    Rp = Pp // J
    Lambda, V, V_inv = hippo.block_hippo(P, J, conj_sym=conj_sym)
    assert Lambda.shape == (Pp,) and V.shape == (P, Pp) and V_inv.shape == (Pp, P)

    Lambda_r, V_r = hippo.legs_normal_eig(R, conj_sym=conj_sym)
    np.testing.assert_array_equal(Lambda, np.tile(Lambda_r, J))
    np.testing.assert_allclose(V_inv @ V, np.eye(Pp), atol=1e-10)
    np.testing.assert_allclose(V_inv, V.conj().T)
    for i in range(J):
        for j in range(J):
            block = V[i * R : (i + 1) * R, j * Rp : (j + 1) * Rp]
            if i == j:
                np.testing.assert_array_equal(block, V_r)
            else:
                assert np.all(block == 0)


def test_block_hippo_full_reconstructs_block_diag_S():
    Lambda, V, V_inv = hippo.block_hippo(24, 3, conj_sym=False)
    S = hippo.legs_normal(8)
    np.testing.assert_allclose(
        V @ np.diag(Lambda) @ V_inv, scipy.linalg.block_diag(S, S, S), atol=1e-10
    )


def test_block_hippo_errors():
    with pytest.raises(ValueError, match="`state_dim`.*`blocks`"):
        hippo.block_hippo(64, 5)
    with pytest.raises(ValueError, match="even"):
        hippo.block_hippo(12, 4, conj_sym=True)  # block size 3
    Lambda, _, _ = hippo.block_hippo(12, 4, conj_sym=False)
    assert Lambda.shape == (12,)
