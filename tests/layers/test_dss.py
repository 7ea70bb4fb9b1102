import numpy as np
import pytest

from keras_ssm import DSSLayer
from keras_ssm import simulate as oracle
from tests.layer_test_case import inputs, numpy, relative_error, run_layer_test


@pytest.mark.parametrize("init", ["skew_hippo", "random"])
@pytest.mark.parametrize(
    "variant, discretization", [("exp", "zoh"), ("exp", "bilinear"), ("softmax", "zoh")]
)
def test_matches_recurrence(variant, discretization, init, tmp_path):
    kwargs = dict(state_dim=8, variant=variant, discretization=discretization, init=init)
    run_layer_test(DSSLayer, kwargs, oracle.siso, tmp_path)


@pytest.mark.parametrize("variant", ["exp", "softmax"])
def test_bidirectional_and_shared_step(variant, tmp_path):
    kwargs = dict(state_dim=8, variant=variant, bidirectional=True, separate_dt=False)
    run_layer_test(DSSLayer, kwargs, oracle.siso, tmp_path)


def test_softmax_kernel_is_the_papers_formula():
    layer = DSSLayer(state_dim=8, variant="softmax", seed=0)
    layer.build((None, None, 4))
    length = 100
    lam = numpy(layer.lambda_re) + 1j * numpy(layer.lambda_im)
    dt = np.exp(numpy(layer.log_dt))
    x = dt[:, :1] * lam.real + 1j * dt[:, 1:] * lam.imag
    w = numpy(layer.W_re) + 1j * numpy(layer.W_im)
    powers = np.exp(x[..., None] * np.arange(length))
    expected = np.real(np.sum(w[..., None] / lam[:, None] * powers / powers.sum(-1, keepdims=True), axis=1))
    np.testing.assert_allclose(numpy(layer.kernel(length)), expected, atol=1e-5, rtol=1e-4)


def test_softmax_growing_modes_never_overflow():
    layer = DSSLayer(state_dim=8, variant="softmax", seed=0)
    layer.build((None, None, 4))
    # Half the modes grow (Re Λ > 0): the max-shift keeps everything finite.
    layer.lambda_re.assign(np.array([0.3, -0.5, 0.2, -0.1, 2.0, -0.5, 0.05, -0.5], "float32"))
    x = inputs(200)
    error = relative_error(numpy(layer(x)), oracle.siso(layer.ssm_parameters(200), x))
    assert error <= 1e-4
    long = numpy(layer(np.ones((1, 16384, 4), "float32")))
    assert np.all(np.isfinite(long))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(variant="clip"), "variant"),
        (dict(init="legs"), "init"),
        (dict(variant="softmax", discretization="bilinear"), "discretization"),
        (dict(dt_min=-1.0), "dt_min"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DSSLayer(**kwargs)


def test_softmax_needs_length():
    layer = DSSLayer(state_dim=8, variant="softmax", seed=0)
    layer.build((None, None, 4))
    with pytest.raises(ValueError, match="length"):
        layer.ssm_parameters()
    with pytest.raises(ValueError, match="length"):
        layer.get_initial_state(2)
