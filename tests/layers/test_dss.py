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


@pytest.mark.parametrize("variant", ["exp-re-im", "exp-no-scale", "clip", "clip-no-scale"])
def test_reference_versions_match_recurrence(variant, tmp_path):
    run_layer_test(DSSLayer, dict(state_dim=8, variant=variant), oracle.siso, tmp_path)


def test_versions_refuse_what_they_cannot_build():
    with pytest.raises(ValueError, match="discretization"):
        DSSLayer(variant="exp-no-scale", discretization="bilinear")
    with pytest.raises(ValueError, match="skew_hippo"):
        DSSLayer(variant="exp-re-im", init="random")


@pytest.mark.parametrize("variant", ["exp", "softmax"])
def test_bidirectional_and_shared_step(variant, tmp_path):
    kwargs = dict(state_dim=8, variant=variant, bidirectional=True, separate_dt=False)
    run_layer_test(DSSLayer, kwargs, oracle.siso, tmp_path)


def test_softmax_kernel_is_the_papers_formula():
    layer = DSSLayer(state_dim=8, variant="softmax", seed=0)
    layer.build((None, None, 4))
    length = 100
    lam = numpy(layer.re_param) + 1j * numpy(layer.im_param)
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
    layer.re_param.assign(np.array([0.3, -0.5, 0.2, -0.1, 2.0, -0.5, 0.05, -0.5], "float32"))
    x = inputs(200)
    error = relative_error(numpy(layer(x)), oracle.siso(layer.ssm_parameters(200), x))
    assert error <= 1e-4
    long = numpy(layer(np.ones((1, 16384, 4), "float32")))
    assert np.all(np.isfinite(long))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(variant="clip-exp"), "variant"),
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


def softmax_kernel(layer, length, step_scale=1.0):
    """The paper's DSS-softmax kernel in float64 numpy, `(H, L)`:
    `K_l = Re Σ_n W_n / Λ_n · e^{s x_n l} / Σ_{j<L} e^{s x_n j}`, the softmax
    over the taps the layer runs (step `s Δ`)."""
    lam = numpy(layer.re_param).astype(float) + 1j * numpy(layer.im_param)
    dt = np.exp(numpy(layer.log_dt).astype(float))
    x = step_scale * (dt[:, :1] * lam.real + 1j * dt[:, 1:] * lam.imag)
    w = numpy(layer.W_re) + 1j * numpy(layer.W_im)
    logits = x[..., None] * np.arange(length)
    logits = logits - np.max(logits.real, axis=-1, keepdims=True)
    powers = np.exp(logits)
    return np.real(np.sum(w[..., None] / lam[:, None] * powers / powers.sum(-1, keepdims=True), axis=1))


def growing_softmax_layer(re_lambda=0.3, log_dt=None):
    layer = DSSLayer(state_dim=8, variant="softmax", seed=0)
    layer.build((None, None, 4))
    re = np.where(np.arange(8) % 2, -0.5, re_lambda).astype("float32")
    layer.re_param.assign(re)
    if log_dt is not None:
        layer.log_dt.assign(np.full((4, 2), np.log(log_dt), "float32"))
    return layer


@pytest.mark.parametrize("step_scale", [0.5, 2.0])
def test_softmax_step_scale_normalises_with_the_scaled_step(step_scale):
    layer = growing_softmax_layer()
    expected = softmax_kernel(layer, 100, step_scale)
    kernel = numpy(layer.kernel(100, step_scale=step_scale))
    np.testing.assert_allclose(kernel, expected, atol=1e-5, rtol=1e-4)


def test_softmax_step_scale_with_growing_modes_never_overflows():
    # exp(x (s (L − 1) − L)) overflowed for s > 1 at long L.
    layer = growing_softmax_layer(re_lambda=2.0, log_dt=0.1)
    y = numpy(layer(np.ones((1, 4096, 4), "float32"), step_scale=2.0))
    assert np.all(np.isfinite(y))
    kernel = numpy(layer.kernel(4096, step_scale=2.0))
    np.testing.assert_allclose(kernel, softmax_kernel(layer, 4096, 2.0), atol=1e-5, rtol=1e-4)


def test_softmax_padded_batch_equals_each_sequence_alone():
    # The normaliser runs over each example's own length (its last valid
    # step + 1), not over the padded one.
    layer = growing_softmax_layer()
    x = inputs(48)
    lengths = [48, 30, 7]
    mask = np.arange(48)[None] < np.array(lengths)[:, None]
    y = numpy(layer(np.where(mask[..., None], x, 0.0), mask=mask))
    for i, n in enumerate(lengths):
        alone = numpy(layer(x[i : i + 1, :n]))
        np.testing.assert_allclose(y[i, :n], alone[0], atol=1e-5, rtol=1e-4)
    assert np.all(y[~mask] == 0.0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_softmax_masked_call_with_far_padding_stays_finite(bidirectional):
    # Growing modes of a short sequence in a long padded batch: the taps past
    # its length are never formed (they would overflow).
    layer = DSSLayer(state_dim=8, variant="softmax", bidirectional=bidirectional, seed=0)
    layer.build((None, None, 4))
    layer.re_param.assign(np.full(8, 2.0, "float32"))
    layer.log_dt.assign(np.full((4, 2), np.log(0.1), "float32"))
    x = inputs(2048, batch=2)
    mask = np.arange(2048)[None] < np.array([[2048], [100]])
    y = numpy(layer(x, mask=mask))
    alone = numpy(layer(x[1:, :100]))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[1, :100], alone[0], atol=1e-5, rtol=1e-4)


def stream(layer, x, state):
    outputs = []
    for k in range(x.shape[1]):
        y, state = layer.step(x[:, k], state)
        outputs.append(numpy(y))
    return np.stack(outputs, axis=1), state


def test_softmax_streaming_with_strongly_growing_modes():
    # Re x · L = 2 · 60 = 120 > 88: the plain state overflows float32 while
    # C carries e^{−xL} (inf · 0). The state is carried rescaled.
    layer = growing_softmax_layer(re_lambda=20.0, log_dt=0.1)
    x = inputs(60)
    full = numpy(layer(x))
    streamed, _ = stream(layer, x, layer.get_initial_state(3, length=60))
    assert np.all(np.isfinite(streamed))
    np.testing.assert_allclose(streamed, full, atol=1e-5 * np.abs(full).max(), rtol=0)


def test_softmax_streaming_with_step_scale():
    layer = growing_softmax_layer()
    x = inputs(40)
    full = numpy(layer(x, step_scale=1.7))
    state, outputs = layer.get_initial_state(3, length=40), []
    for k in range(40):
        y, state = layer.step(x[:, k], state, step_scale=1.7)
        outputs.append(numpy(y))
    np.testing.assert_allclose(np.stack(outputs, 1), full, atol=1e-5)


def test_softmax_step_with_a_zero_eigenvalue_is_finite():
    # x = ΔΛ = 0 is allowed (Λ is unconstrained): no division by x.
    layer = growing_softmax_layer()
    layer.re_param.assign(np.where(np.arange(8) == 0, 0.0, numpy(layer.re_param)).astype("float32"))
    layer.im_param.assign(np.where(np.arange(8) == 0, 0.0, numpy(layer.im_param)).astype("float32"))
    x = inputs(20)
    full = numpy(layer(x))
    streamed, _ = stream(layer, x, layer.get_initial_state(3, length=20))
    assert np.all(np.isfinite(full))
    np.testing.assert_allclose(streamed, full, atol=1e-5)


def test_two_softmax_streams_of_different_lengths_on_one_layer():
    layer = growing_softmax_layer()
    x = inputs(30)
    short_state = layer.get_initial_state(3, length=20)
    long_state = layer.get_initial_state(3, length=30)  # must not retarget the first stream
    short, _ = stream(layer, x[:, :20], short_state)
    long, _ = stream(layer, x, long_state)
    np.testing.assert_allclose(short, numpy(layer(x[:, :20])), atol=1e-5)
    np.testing.assert_allclose(long, numpy(layer(x)), atol=1e-5)


def test_exp_state_is_a_plain_tensor_that_chunks():
    layer = DSSLayer(state_dim=8, variant="exp", seed=0)
    x = inputs(30)
    full = numpy(layer(x))
    state = layer.get_initial_state(3)
    assert tuple(state.shape) == (3, 4, 8) and "complex64" in str(state.dtype)
    first, state = layer.chunk(x[:, :12], state)
    second, state = layer.chunk(x[:, 12:], state)
    np.testing.assert_allclose(np.concatenate([numpy(first), numpy(second)], 1), full, atol=1e-5)
