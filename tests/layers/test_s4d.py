import numpy as np
import pytest

from keras_ssm import S4DLayer
from keras_ssm import simulate as oracle
from tests.layer_test_case import inputs, numpy, relative_error, run_layer_test


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("init", ["legs", "inv", "lin", "random"])
def test_matches_recurrence(init, discretization, tmp_path):
    run_layer_test(S4DLayer, dict(state_dim=16, init=init, discretization=discretization), oracle.siso, tmp_path)


@pytest.mark.parametrize("real_transform", ["relu", "none", "softplus", "sigmoid"])
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
        (dict(real_transform="tanh"), "real_transform"),
        (dict(kernel_dropout=1.0), "kernel_dropout"),
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


@pytest.mark.parametrize("real_transform, transform", [
    ("softplus", lambda a: np.log1p(np.exp(a))),
    ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
])
def test_softplus_and_sigmoid_transforms_are_s4s(real_transform, transform):
    layer = S4DLayer(state_dim=8, init="lin", real_transform=real_transform, seed=0)
    layer.build((None, None, 4))
    a = numpy(layer.a_real).astype(np.float64)
    np.testing.assert_allclose(transform(a), 0.5, rtol=1e-5)  # S4D-Lin: Re Λ = −1/2 at init
    layer.a_real.assign(np.linspace(-3, 3, 16).reshape(4, 4).astype("float32"))
    expected = -transform(np.linspace(-3, 3, 16).reshape(4, 4))
    np.testing.assert_allclose(layer.ssm_parameters()["Lambda"].real, expected, rtol=1e-5)


def test_sigmoid_refuses_an_init_it_cannot_hold():
    layer = S4DLayer(state_dim=8, real_transform="sigmoid", seed=0)
    layer.real_transform = "sigmoid"
    with pytest.raises(ValueError, match="sigmoid"):
        layer._inverse_transform(np.array([0.5, 1.5]))


def test_kernel_dropout_drops_kernel_taps_in_training_only():
    layer = S4DLayer(state_dim=8, kernel_dropout=0.5, seed=0)
    impulse = np.zeros((1, 256, 4), "float32")
    impulse[0, 0] = 1.0
    inference = numpy(layer(impulse))
    kernel = numpy(layer.kernel(256))  # (H, L)
    np.testing.assert_allclose(inference[0, 1:].T, kernel[:, 1:], atol=1e-5)
    trained = numpy(layer(impulse, training=True))[0, 1:].T  # the impulse response is the dropped kernel
    dropped = np.isclose(trained, 0.0, atol=1e-7)
    assert 0.4 < dropped.mean() < 0.6
    np.testing.assert_allclose(trained[~dropped], 2 * kernel[:, 1:][~dropped], rtol=1e-3, atol=1e-5)
    assert S4DLayer.from_config(layer.get_config()).kernel_dropout == 0.5
