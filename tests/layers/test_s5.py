import keras
import numpy as np
import pytest

from keras_ssm import S5Layer
from keras_ssm import simulate as oracle
from tests.layer_test_case import inputs, numpy, relative_error, run_layer_test


def timesteps(length, batch=3):
    return np.random.default_rng(5).uniform(0.3, 2.0, (batch, length)).astype("float32")


@pytest.mark.parametrize("blocks", [1, 4])
@pytest.mark.parametrize("conj_sym", [True, False])
@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_matches_recurrence(discretization, conj_sym, blocks, tmp_path):
    kwargs = dict(state_dim=16, blocks=blocks, conj_sym=conj_sym, discretization=discretization)
    run_layer_test(S5Layer, kwargs, oracle.mimo, tmp_path)


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_irregular_timesteps(discretization, bidirectional, tmp_path):
    kwargs = dict(state_dim=16, blocks=2, discretization=discretization, bidirectional=bidirectional)
    run_layer_test(S5Layer, kwargs, oracle.mimo, tmp_path, timesteps=timesteps(64))


@pytest.mark.parametrize("c_init", ["trunc_standard", "lecun", "complex_normal"])
def test_c_inits_and_bidirectional(c_init, tmp_path):
    run_layer_test(
        S5Layer, dict(state_dim=8, c_init=c_init, bidirectional=True, clip_eigs=True), oracle.mimo, tmp_path
    )


def test_long_sequence_matches_recurrence():
    layer = S5Layer(state_dim=32, blocks=4, seed=2)
    x = inputs(1024, batch=2)
    assert relative_error(numpy(layer(x)), oracle.mimo(layer.ssm_parameters(), x)) <= 1e-4


def test_two_halves_with_carried_state_equal_one_call():
    layer = S5Layer(state_dim=16, seed=0)
    x, t = inputs(90), timesteps(90)
    full = numpy(layer(x, timesteps=t))
    first, state = layer(x[:, :37], timesteps=t[:, :37], return_state=True)
    second = layer(x[:, 37:], timesteps=t[:, 37:], initial_state=state)
    np.testing.assert_allclose(np.concatenate([numpy(first), numpy(second)], 1), full, atol=1e-5)


def test_step_with_timesteps_equals_full_call():
    layer = S5Layer(state_dim=16, seed=0)
    x, t = inputs(30), timesteps(30)
    full = numpy(layer(x, timesteps=t))
    state, outputs = layer.get_initial_state(3), []
    for k in range(30):
        y, state = layer.step(x[:, k], state, timesteps_t=t[:, k])
        outputs.append(numpy(y))
    np.testing.assert_allclose(np.stack(outputs, 1), full, atol=1e-5)


def test_canonical_form():
    layer = S5Layer(state_dim=16, blocks=2, seed=0)
    layer.build((None, None, 4))
    p = layer.ssm_parameters()
    assert p["Lambda"].shape == p["step"].shape == (8,)
    assert p["B"].shape == (8, 4) and p["C"].shape == (4, 8)
    np.testing.assert_allclose(p["Lambda"].real, -0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(state_dim=16, blocks=3), "blocks"),
        (dict(state_dim=6, blocks=2), "state_dim"),
        (dict(c_init="xavier"), "c_init"),
        (dict(discretization="foh"), "discretization"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S5Layer(**kwargs)


def test_bad_timesteps():
    layer = S5Layer(state_dim=8, seed=0)
    x = inputs(10)
    with pytest.raises(ValueError, match="timesteps"):
        layer(x, timesteps=np.ones((3, 9), "float32"))
    with pytest.raises(ValueError, match="timesteps"):
        layer(x, timesteps=np.ones((3, 10, 1), "float32"))
    with pytest.raises(ValueError, match="timesteps"):
        layer(x, timesteps=np.zeros((3, 10), "float32"))


def loop_with_timesteps(params, u, timesteps):
    """S5 with irregular steps, written from the equations (ZOH), not from
    keras_ssm.simulate: forward `x_k = Λ̄(δ_k) x_{k−1} + B̄(δ_k) u_k`; the
    reverse scan goes back from k+1 to k, an interval of δ_{k+1} (1 past the
    end), for both its decay and its input."""
    lam, b = params["Lambda"].astype(complex), params["B"].astype(complex)
    u, timesteps = np.asarray(u, float), np.asarray(timesteps, float)
    batch, length, _ = u.shape
    y = u * params["D"]
    for i in range(batch):
        forward = np.zeros_like(lam)
        backward = np.zeros_like(lam)
        for k in range(length):
            step = params["step"].astype(float) * timesteps[i, k]
            forward = np.exp(lam * step) * forward + (np.exp(lam * step) - 1) / lam * (b @ u[i, k])
            y[i, k] += np.real(params["C"] @ forward)
        for k in range(length - 1, -1, -1):
            step = params["step"].astype(float) * (timesteps[i, k + 1] if k + 1 < length else 1.0)
            backward = np.exp(lam * step) * backward + (np.exp(lam * step) - 1) / lam * (b @ u[i, k])
            y[i, k] += np.real(params["C_backward"] @ backward)
    return y


def test_bidirectional_timesteps_reverse_scan_uses_the_next_interval():
    layer = S5Layer(state_dim=8, blocks=2, bidirectional=True, seed=0)
    x = inputs(20)
    t = np.random.default_rng(5).uniform(0.2, 3.0, (3, 20)).astype("float32")
    y = numpy(layer(x, timesteps=t))
    expected = loop_with_timesteps(layer.ssm_parameters(), x, t)
    assert relative_error(y, expected) <= 1e-4
    assert relative_error(oracle.mimo(layer.ssm_parameters(), x, timesteps=t), expected) <= 1e-10


def test_padded_batch_with_timesteps_equals_each_sequence_alone():
    # The padding's own intervals (here 5) never reach the valid steps: the
    # reverse scan starts each sequence from its last valid step.
    layer = S5Layer(state_dim=8, blocks=2, bidirectional=True, seed=0)
    x, t = inputs(24), timesteps(24)
    lengths = [24, 17, 9]
    mask = np.arange(24)[None] < np.array(lengths)[:, None]
    y = numpy(layer(np.where(mask[..., None], x, 0.0), mask=mask, timesteps=np.where(mask, t, 5.0)))
    for i, n in enumerate(lengths):
        alone = numpy(layer(x[i : i + 1, :n], timesteps=t[i : i + 1, :n]))
        np.testing.assert_allclose(y[i, :n], alone[0], atol=1e-5, rtol=1e-4)
    assert np.all(y[~mask] == 0.0)


def test_timesteps_tensors_are_not_read_back(monkeypatch):
    # Only Python / numpy timesteps are checked on the host: reading a tensor
    # back is a device sync (and a graph break under torch.compile).
    layer = S5Layer(state_dim=8, seed=0)
    x = inputs(10)
    layer(x)
    calls = []
    convert = keras.ops.convert_to_numpy
    monkeypatch.setattr(keras.ops, "convert_to_numpy", lambda v: calls.append(1) or convert(v))
    layer(x, timesteps=keras.ops.convert_to_tensor(timesteps(10)))
    assert not calls
    with pytest.raises(ValueError, match="positive"):
        layer(x, timesteps=np.zeros((3, 10), "float32"))
