"""The benchmark's re-implementations of the reference repositories compute
the same system as our layers: their forward against the float64 oracle of
`ssm_parameters()`, and their fwd+bwd callables give finite gradients."""

import numpy as np
import pytest
from keras import ops

from benchmarks import references
from keras_ssm import simulate
from tests.layer_test_case import relative_error

BATCH, LENGTH, FEATURES, STATE_DIM = 2, 64, 6, 8


def built_layer(name):
    layer = references.our_layer(name, state_dim=STATE_DIM)
    layer.build((BATCH, LENGTH, FEATURES))
    return layer


def oracle(layer, x):
    if getattr(layer, "variant", None) == "softmax":  # DSS-softmax depends on L
        params = layer.ssm_parameters(length=x.shape[1])
    else:
        params = layer.ssm_parameters()
    return simulate.simulate(params, x)


def random_inputs(seed=0):
    return np.random.default_rng(seed).standard_normal((BATCH, LENGTH, FEATURES)).astype("float32")


def check_against_oracle(name, layer):
    x = random_inputs()
    y = references.reference_forward(name, references.reference_params(name, layer), x)
    assert y.shape == x.shape and y.dtype == np.float32
    error = relative_error(y, oracle(layer, x))
    assert error <= 1e-4, f"{name}: relative error {error:.2e} against the oracle"
    # The reference and our layer agree too (same system, float32 both).
    assert relative_error(y, ops.convert_to_numpy(layer(x))) <= 1e-4


@pytest.mark.parametrize("name", sorted(references.FRAMEWORK))
def test_reference_matches_oracle(name):
    check_against_oracle(name, built_layer(name))


def test_dss_growing_modes_match_oracle():
    # Modes with Re Λ > 0 go through DSS's max-subtraction branch.
    layer = built_layer("dss")
    re = ops.convert_to_numpy(layer.re_param).copy()
    re[::2] = np.linspace(0.05, 0.4, re[::2].size)
    layer.re_param.assign(re)
    check_against_oracle("dss", layer)


@pytest.mark.parametrize("name", sorted(references.FRAMEWORK))
def test_reference_steps(name):
    layer = built_layer(name)
    params = references.reference_params(name, layer)
    x = random_inputs(1)
    steps = references.reference_steps(name, params, x)
    assert {"fwd", "fwdbwd"} <= set(steps)
    y = np.asarray(steps["fwd"]())
    expected = references.reference_forward(name, params, x)
    if references.FRAMEWORK[name] == "torch":  # (B, H, L) layout
        y = y.transpose(0, 2, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    loss, grads = steps["fwdbwd"]()
    if references.FRAMEWORK[name] == "jax":
        param_grads, x_grad = grads
        param_grads = {k: np.asarray(v) for k, v in param_grads.items()}
        assert sorted(param_grads) == sorted(params)
        param_grads = [param_grads[k] for k in params]
    else:
        *param_grads, x_grad = [g.numpy() for g in grads]
        loss = loss.detach()
        x_grad = x_grad.transpose(0, 2, 1)
    np.testing.assert_allclose(float(loss), float(np.sum(expected.astype(np.float64) ** 2)), rtol=1e-4)
    for key, grad in zip(params, param_grads):
        assert grad.shape == params[key].shape, key
        assert np.all(np.isfinite(grad)), key
        assert np.any(grad != 0), key
    assert np.asarray(x_grad).shape == x.shape and np.all(np.isfinite(x_grad))
    # A second call gives the same gradients (torch: they were reset, not accumulated).
    _, again = steps["fwdbwd"]()
    first = param_grads[0]
    second = np.asarray(again[0][next(iter(params))]) if references.FRAMEWORK[name] == "jax" else again[0].numpy()
    np.testing.assert_allclose(second, first, rtol=1e-6, atol=0)


def test_unknown_name():
    with pytest.raises(ValueError, match="Unknown reference"):
        references.our_layer("mamba")
