"""Initialisation math for diagonal state-space models (host-side numpy, float64).

This module builds the state matrices that the layers start from. It is pure
numpy on purpose: the eigendecompositions below need float64 and run once, on
the host, before any backend tensor exists (the S5 reference code keeps its
``ssm_init.py`` apart from the layers in the same way).

Conventions: a continuous-time SSM is ``x' = A x + B u``, ``y = C x``. Diagonal
models keep ``A = diag(Lambda)`` with complex ``Lambda``. "Conjugate symmetry"
(``conj_sym``) stores only one eigenvalue of each conjugate pair; the layer
then takes twice the real part of its output.

References:
    HiPPO: A. Gu, T. Dao, S. Ermon, A. Rudra, C. Re. "HiPPO: Recurrent Memory
        with Optimal Polynomial Projections." NeurIPS 2020.
    S4D: A. Gu, A. Gupta, K. Goel, C. Re. "On the Parameterization and
        Initialization of Diagonal State Space Models." NeurIPS 2022.
    DSS: A. Gupta, A. Gu, J. Berant. "Diagonal State Spaces are as Effective
        as Structured State Spaces." NeurIPS 2022.
    S5: J. T. H. Smith, A. Warrington, S. W. Linderman. "Simplified State
        Space Layers for Sequence Modeling." ICLR 2023.
"""

import numpy as np

S4D_INITS = ("legs", "inv", "lin", "random")


def _check_size(value, name, even=False):
    """Raise a ValueError unless ``value`` is a positive (even) integer."""
    kind = "positive even integer" if even else "positive integer"
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < 1 or (even and value % 2):
        raise ValueError(f"`{name}` must be a {kind}, got {value!r}.")


def legs(n):
    """HiPPO-LegS state matrix and input vector (Gu et al. 2020).

    Formula (i, k = 0..n-1)::

        A[i, k] = -sqrt(2i+1) * sqrt(2k+1)   if i > k
        A[i, i] = -(i+1)
        A[i, k] = 0                          if i < k
        B[i]    = sqrt(2i+1)

    Args:
        n: state size.

    Returns:
        ``(A, B)``: float64 arrays of shape ``(n, n)`` and ``(n,)``.

    Example:
        >>> A, B = legs(3)
        >>> print(np.round(A, 4))
        [[-1.      0.      0.    ]
         [-1.7321 -2.      0.    ]
         [-2.2361 -3.873  -3.    ]]
        >>> print(np.round(B ** 2, 10))
        [1. 3. 5.]
    """
    _check_size(n, "n")
    q = np.arange(n, dtype=np.float64)
    r2 = 2 * q + 1
    # sqrt of the product (not the product of sqrts) keeps legs_normal exact.
    A = np.tril(-np.sqrt(np.outer(r2, r2)), -1) - np.diag(q + 1)
    return A, np.sqrt(r2)


def legs_normal(n):
    """Normal part of HiPPO-LegS in its normal-plus-low-rank form (S4/S4D).

    Formula: ``A = S - p p^T`` with ``p[i] = sqrt(i + 1/2)``, so
    ``S = A + p p^T``. ``S`` has diagonal exactly ``-1/2`` and ``S + I/2`` is
    skew-symmetric, hence ``S`` is normal and unitarily diagonalisable.

    Args:
        n: state size.

    Returns:
        ``S``: float64 ``(n, n)``.

    Example:
        >>> S = legs_normal(3)
        >>> print(np.diag(S))
        [-0.5 -0.5 -0.5]
        >>> bool(np.all(S + S.T == -np.eye(3)))
        True
    """
    A, _ = legs(n)
    half = np.arange(n, dtype=np.float64) + 0.5
    # sqrt(outer) rather than outer(sqrt): exact diagonal and exact skew part.
    return A + np.sqrt(np.outer(half, half))


def legs_normal_eig(n, conj_sym=False):
    """Unitary eigendecomposition of the normal HiPPO-LegS matrix ``S``.

    ``S = -I/2 + K`` with ``K`` real skew-symmetric, so every eigenvalue is
    ``Lambda = -1/2 + i*w`` where ``(w, V)`` is the Hermitian eigendecomposition
    of ``-1j * K`` (``np.linalg.eigh``, ascending ``w``). Then
    ``S = V diag(Lambda) V^H`` with ``V`` unitary.

    With ``conj_sym=True`` only the first ``n // 2`` eigenpairs are kept (the
    half with ``Im Lambda < 0``); the others are their complex conjugates.

    Args:
        n: state size (even when ``conj_sym``).
        conj_sym: keep one eigenvalue per conjugate pair.

    Returns:
        ``(Lambda, V)``: complex128 arrays of shape ``(n,)`` and ``(n, n)``, or
        ``(n // 2,)`` and ``(n, n // 2)`` with ``conj_sym``.

    Example:
        >>> Lambda, V = legs_normal_eig(4)
        >>> print(Lambda.real)
        [-0.5 -0.5 -0.5 -0.5]
        >>> S = legs_normal(4)
        >>> bool(np.allclose(V @ np.diag(Lambda) @ V.conj().T, S))
        True
        >>> Lambda, V = legs_normal_eig(4, conj_sym=True)
        >>> Lambda.shape, V.shape, bool(np.all(Lambda.imag < 0))
        ((2,), (4, 2), True)
    """
    _check_size(n, "n", even=conj_sym)
    S = legs_normal(n)
    re = np.mean(np.diag(S))
    # eigh reads only the real part of the diagonal, so eigh(-1j * S) as in
    # the S4 code is the same as using the skew part explicitly.
    w, V = np.linalg.eigh(-1j * (S - re * np.eye(n)))
    Lambda = re + 1j * w
    if conj_sym:
        Lambda, V = Lambda[: n // 2], V[:, : n // 2]
    return Lambda, V


def skew_hippo(n):
    """DSS initialisation: eigenvalues of the skew-symmetric part of HiPPO.

    Build ``M`` of size ``2n x 2n`` with ``M[i, k] = sqrt((2i+1)(2k+1))`` for
    ``i > k`` and 0 elsewhere, ``Skew = (M - M^T) / 2``. Its ``2n`` eigenvalues
    ``i*w`` are purely imaginary and come in conjugate pairs; sort by ``w``
    descending, keep the ``n`` with ``w > 0``, and shift:
    ``Lambda = -1/2 + i*w`` (Gupta et al. 2022).

    Args:
        n: number of modes returned (the DSS state size).

    Returns:
        complex128 array of shape ``(n,)``.

    Example:
        >>> Lambda = skew_hippo(4)
        >>> print(Lambda.real)
        [-0.5 -0.5 -0.5 -0.5]
        >>> bool(np.all(Lambda.imag > 0) and np.all(np.diff(Lambda.imag) < 0))
        True
    """
    _check_size(n, "n")
    r2 = 2 * np.arange(2 * n, dtype=np.float64) + 1
    M = np.tril(np.sqrt(np.outer(r2, r2)), -1)
    skew = (M - M.T) / 2
    # -1j * skew is Hermitian: eigvalsh gives the imaginary parts accurately.
    w = np.linalg.eigvalsh(-1j * skew)[::-1]
    return -0.5 + 1j * w[:n]


def s4d_lin(state_dim):
    """S4D-Lin: ``Lambda_n = -1/2 + i*pi*n`` for ``n = 0..N/2-1`` (Gu et al. 2022).

    Args:
        state_dim: S4D state size ``N`` (even; conjugates implied).

    Returns:
        complex128 array of shape ``(N // 2,)``.

    Example:
        >>> print(s4d_lin(4).imag / np.pi)
        [0. 1.]
    """
    _check_size(state_dim, "state_dim", even=True)
    return -0.5 + 1j * np.pi * np.arange(state_dim // 2)


def s4d_inv(state_dim):
    """S4D-Inv: ``Lambda_n = -1/2 + i*(N/pi)*(N/(2n+1) - 1)`` (Gu et al. 2022).

    Args:
        state_dim: S4D state size ``N`` (even; conjugates implied).

    Returns:
        complex128 array of shape ``(N // 2,)``.

    Example:
        >>> print(np.round(s4d_inv(4).imag * np.pi / 4, 10))
        [3.         0.33333333]
    """
    _check_size(state_dim, "state_dim", even=True)
    N = state_dim
    n = np.arange(N // 2)
    return -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1)


def s4d_legs(state_dim):
    """S4D-LegS: the diagonal part of HiPPO-LegS, with ``B`` projected onto it.

    ``Lambda, V = legs_normal_eig(N, conj_sym=True)`` and ``B = V^H B_legs``
    with ``B_legs = legs(N)[1]``. As in the S4 code, the factor 1/2 of the
    theory is dropped and ``Im B`` is clipped to ``[-2, 2]``.

    Args:
        state_dim: S4D state size ``N`` (even; conjugates implied).

    Returns:
        ``(Lambda, B)``: complex128 arrays of shape ``(N // 2,)``.

    Example:
        >>> Lambda, B = s4d_legs(8)
        >>> Lambda.shape, B.shape, bool(np.all(np.abs(B.imag) <= 2))
        ((4,), (4,), True)
    """
    _check_size(state_dim, "state_dim", even=True)
    Lambda, V = legs_normal_eig(state_dim, conj_sym=True)
    B = V.conj().T @ legs(state_dim)[1]
    return Lambda, B.real + 1j * np.clip(B.imag, -2.0, 2.0)


def s4d_random(state_dim, rng):
    """S4D random init: ``Lambda_n = -1/2 + i*exp(z_n)``, ``z_n ~ N(0, 1)``.

    Args:
        state_dim: S4D state size ``N`` (even; conjugates implied).
        rng: a ``np.random.Generator``.

    Returns:
        complex128 array of shape ``(N // 2,)``.

    Example:
        >>> Lambda = s4d_random(8, np.random.default_rng(0))
        >>> Lambda.shape, bool(np.all(Lambda.imag > 0))
        ((4,), True)
    """
    _check_size(state_dim, "state_dim", even=True)
    return -0.5 + 1j * np.exp(rng.standard_normal(state_dim // 2))


def s4d_init(name, state_dim, rng=None):
    """Dispatch to an S4D initialisation by name.

    ``name`` is one of ``"legs"``, ``"inv"``, ``"lin"``, ``"random"``. ``B`` is
    the projected HiPPO input for ``"legs"`` and all ones otherwise.

    Args:
        name: initialisation name (the layers' ``init`` argument).
        state_dim: S4D state size ``N`` (even; conjugates implied).
        rng: a ``np.random.Generator`` for ``"random"`` (a fresh unseeded one
            when None).

    Returns:
        ``(Lambda, B)``: complex128 arrays of shape ``(N // 2,)``.

    Example:
        >>> Lambda, B = s4d_init("lin", 4)
        >>> print(Lambda)
        [-0.5+0.j         -0.5+3.14159265j]
        >>> print(B)
        [1.+0.j 1.+0.j]
    """
    if name not in S4D_INITS:
        raise ValueError(f"`init` must be one of {S4D_INITS}, got {name!r}.")
    _check_size(state_dim, "state_dim", even=True)
    B = np.ones(state_dim // 2)
    if name == "legs":
        Lambda, B = s4d_legs(state_dim)
    elif name == "random":
        rng = np.random.default_rng() if rng is None else rng
        Lambda = s4d_random(state_dim, rng)
    elif name == "lin":
        Lambda = s4d_lin(state_dim)
    else:
        Lambda = s4d_inv(state_dim)
    return Lambda.astype(np.complex128), B.astype(np.complex128)


def dss_random(n, rng):
    """DSS random init: ``Lambda = -|x| - 1e-4 + i*y`` with ``x, y ~ N(0, 1)``.

    The real part is kept strictly negative (hence the ``1e-4``) so that the
    DSS "exp" parameterisation, which stores ``log(-Re Lambda)``, is finite.

    Args:
        n: number of modes.
        rng: a ``np.random.Generator``.

    Returns:
        complex128 array of shape ``(n,)``.

    Example:
        >>> Lambda = dss_random(5, np.random.default_rng(0))
        >>> Lambda.shape, bool(np.all(Lambda.real < 0))
        ((5,), True)
    """
    _check_size(n, "n")
    re = -np.abs(rng.standard_normal(n)) - 1e-4
    return re + 1j * rng.standard_normal(n)


def block_hippo(state_dim, blocks, conj_sym=True):
    """S5 initialisation: block-diagonal HiPPO-N eigenvectors (Smith et al. 2023).

    With block size ``R = state_dim // blocks`` and
    ``Lambda_r, V_r = legs_normal_eig(R, conj_sym)``::

        Lambda = [Lambda_r, ..., Lambda_r]           (blocks times)
        V      = block_diag(V_r, ..., V_r)
        V_inv  = block_diag(V_r^H, ..., V_r^H)

    With ``P' = state_dim // 2`` if ``conj_sym`` else ``state_dim``, the shapes
    are ``(P',)``, ``(state_dim, P')`` and ``(P', state_dim)``, and
    ``V_inv @ V = I_{P'}``.

    Args:
        state_dim: total latent size ``P``.
        blocks: number of diagonal blocks (must divide ``state_dim``; the
            block size must be even when ``conj_sym``).
        conj_sym: keep one eigenvalue per conjugate pair.

    Returns:
        ``(Lambda, V, V_inv)``, complex128.

    Example:
        >>> Lambda, V, V_inv = block_hippo(8, 2)
        >>> Lambda.shape, V.shape, V_inv.shape
        ((4,), (8, 4), (4, 8))
        >>> bool(np.allclose(V_inv @ V, np.eye(4)))
        True
    """
    _check_size(state_dim, "state_dim")
    _check_size(blocks, "blocks")
    if state_dim % blocks:
        raise ValueError(
            f"`state_dim` ({state_dim}) must be divisible by `blocks` ({blocks})."
        )
    R = state_dim // blocks
    if conj_sym and R % 2:
        raise ValueError(
            f"With `conj_sym=True` the block size `state_dim // blocks` must be "
            f"even, got {state_dim} // {blocks} = {R}."
        )
    Lambda_r, V_r = legs_normal_eig(R, conj_sym)
    eye = np.eye(blocks)
    # All blocks are equal, so block_diag(V_r, ..., V_r) is a Kronecker product.
    return np.tile(Lambda_r, blocks), np.kron(eye, V_r), np.kron(eye, V_r.conj().T)

