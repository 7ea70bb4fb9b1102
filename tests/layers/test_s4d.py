import numpy as np
import pytest

from keras_ssm import S4DLayer
from keras_ssm import simulate as oracle
from tests.layer_test_case import inputs, numpy, relative_error, run_layer_test


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("init", ["legs", "inv", "lin", "random"])
def test_matches_recurrence(init, discretization, tmp_path):
    run_layer_test(S4DLayer, dict(state_dim=16, init=init, discretization=discretization), oracle.siso, tmp_path)


@pytest.mark.parametrize("real_transform", ["relu", "none"])
def test_real_transforms(real_transform, tmp_path):
    run_layer_test(S4DLayer, dict(state_dim=8, real_transform=real_transform), oracle.siso, tmp_path)


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_bidirectional_sees_strictly_future_inputs(discretization, tmp_path):
    run_layer_test(
        S4DLayer, dict(state_dim=8, discretization=discretization, bidirectional=True), oracle.siso, tmp_path
    )


def test_long_sequence_matches_recurrence():
    layer = S4DLayer(state_dim=64, seed=3)
    x = inputs(1024, batch=2)
    error = relative_error(numpy(layer(x)), oracle.siso(layer.ssm_parameters(), x))
    assert error <= 1e-4


def test_kernel_is_the_impulse_response():
    layer = S4DLayer(state_dim=16, seed=1)
    impulse = np.zeros((1, 50, 4), "float32")
    impulse[0, 0] = 1.0
    response = numpy(layer(impulse))[0]
    kernel = numpy(layer.kernel(50))
    d = numpy(layer.D)
    np.testing.assert_allclose(response.T, kernel + np.eye(1, 50)[0] * d[:, None], atol=1e-5)
    assert kernel.shape == (4, 50)


def test_canonical_form():
    layer = S4DLayer(state_dim=16, seed=0)
    layer.build((None, None, 4))
    p = layer.ssm_parameters()
    assert p["Lambda"].shape == p["B"].shape == p["C"].shape == (4, 8)
    assert p["step"].shape == p["D"].shape == (4,)
    assert p["discretization"] == "zoh"
    assert np.all(p["Lambda"].real < 0)
    assert np.all((p["step"] >= 1e-3) & (p["step"] <= 1e-1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(state_dim=7), "state_dim"),
        (dict(state_dim=0), "state_dim"),
        (dict(init="hippo"), "init"),
        (dict(discretization="euler"), "discretization"),
        (dict(real_transform="softplus"), "real_transform"),
        (dict(dt_min=0.1, dt_max=0.01), "dt_min"),
        (dict(bidirectional="yes"), "bidirectional"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S4DLayer(**kwargs)


def test_none_transform_keeps_the_system_stable():
    # With real_transform="none" training may push the stored value below
    # zero: Re Λ is clipped at −1e-4 (as S5's clip_eigs), so no mode grows.
    layer = S4DLayer(state_dim=8, real_transform="none", seed=0)
    layer.build((None, None, 4))
    layer.a_real.assign(np.full((4, 4), -0.5, "float32"))
    assert np.all(layer.ssm_parameters()["Lambda"].real <= -1e-4)
    assert np.all(np.isfinite(numpy(layer(np.ones((1, 4096, 4), "float32")))))
