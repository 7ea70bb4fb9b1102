import numpy as np
import pytest

from keras_ssm.discretization import discretize
from tests.layer_test_case import numpy

# Decaying, oscillating and nearly real modes, at the smallest steps S4 uses.
LAMBDA = np.array([-0.5 + 3.0j, -0.5 + 0.1j, -2.0 + 40.0j, -1e-3 + 1e-3j], "complex64")


def relative(actual, expected):
    return np.max(np.abs(actual - expected) / np.abs(expected))


@pytest.mark.parametrize("step", [1e-4, 1e-3])
def test_zoh_input_matrix_at_tiny_steps(step):
    # B̄ = (e^{ΛΔ} − 1)/Λ: exp(z) − 1 in float32 loses 1e-3 of it at Δ = 1e-4.
    _, b_scale = discretize(LAMBDA, np.float32(step), "zoh")
    lam = LAMBDA.astype("complex128")
    expected = np.expm1(lam * step) / lam
    assert relative(numpy(b_scale), expected) < 1e-6


@pytest.mark.parametrize("step", [1e-4, 1e-3])
def test_bilinear_log_eigenvalues_at_tiny_steps(step):
    # log Λ̄ = log(1 + ΔΛ/2) − log(1 − ΔΛ/2), what the kernel exponentiates
    # L times: log(1 + x) of float32 loses 1e-3 of it at Δ = 1e-4.
    log_z, _ = discretize(LAMBDA, np.float32(step), "bilinear")
    half = LAMBDA.astype("complex128") * step / 2
    expected = np.log1p(half) - np.log1p(-half)
    assert relative(numpy(log_z), expected) < 1e-6
