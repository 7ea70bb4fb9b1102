import keras
import numpy as np
import pytest
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops import reference
from tests.grad_utils import value_and_grad


def direct(u, k, k_back=None):
    """Causal (and strictly-future backward) convolution by definition."""
    batch, length, h = u.shape
    y = np.zeros((batch, length, h))
    for t in range(length):
        for s in range(t + 1):
            y[:, t] += k[:, t - s] * u[:, s]
        if k_back is not None:
            for s in range(t + 1, length):
                y[:, t] += k_back[:, s - t - 1] * u[:, s]
    return y


def assert_close(actual, expected, rel=1e-5):
    """Within float32 round-off of the FFT: the largest error is at most `rel`
    of the output's scale, max |expected| (an absolute atol would be loose for
    small outputs and tight for large ones)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    error, scale = np.abs(actual - expected).max(), np.abs(expected).max()
    assert error <= rel * scale, f"max error {error:.2e} = {error / scale:.1e} of the scale {scale:.3g}"


def data(length, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((2, length, 3)).astype("float32"),
        rng.standard_normal((3, length)).astype("float32"),
        rng.standard_normal((3, length)).astype("float32"),
    )


@pytest.mark.parametrize("length", [1, 2, 17, 64])
@pytest.mark.parametrize("two_sided", [False, True])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_equals_direct_convolution(length, two_sided, impl):
    u, k, kb = data(length)
    fn = ssm_ops.fft_conv if impl == "fast" else reference.fft_conv
    y = ops.convert_to_numpy(fn(u, k, kb if two_sided else None))
    assert_close(y, direct(u, k, kb if two_sided else None))


@pytest.mark.parametrize("two_sided", [False, True])
def test_fast_path_values_and_gradients_equal_reference(two_sided):
    u, k, kb = data(300, seed=1)
    w = np.random.default_rng(2).standard_normal((2, 300, 3)).astype("float32")

    def loss(conv):
        def fn(u, k, kb):
            return ops.sum(ops.multiply(conv(u, k, kb if two_sided else None), w))

        return fn

    fast_value, fast_grads = value_and_grad(loss(ssm_ops.fft_conv), u, k, kb)
    ref_value, ref_grads = value_and_grad(loss(reference.fft_conv), u, k, kb)
    assert_close(fast_value, ref_value)
    for fast, ref in zip(fast_grads, ref_grads):
        assert_close(fast, ref)


def test_mixed_precision_runs_in_float32_and_casts_back():
    u, k, _ = data(128)
    u16 = ops.cast(u, "bfloat16")
    y = ssm_ops.fft_conv(u16, k)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    # The convolution of the bfloat16 inputs, computed in float32: its only
    # bfloat16 error is the output's rounding, half an ulp (2^-8) of each
    # value, plus the float32 FFT's round-off (1e-5 of the scale).
    expected = direct(ops.convert_to_numpy(ops.cast(u16, "float32")), k)
    got = ops.convert_to_numpy(ops.cast(y, "float32"))
    np.testing.assert_allclose(got, expected, rtol=2.0**-8, atol=1e-5 * np.abs(expected).max())


def test_fft_length_never_wraps():
    for length in (1, 3, 4, 1000, 4096):
        n = reference.fft_length(length)
        assert n >= 2 * length and n & (n - 1) == 0


def test_many_channels_equal_reference():
    # Enough channels that the torch path computes its spectra in several
    # channel chunks (8 MiB each: 128 channels of batch 2 at L 4096).
    rng = np.random.default_rng(4)
    u = rng.standard_normal((2, 4096, 130)).astype("float32")
    k = (rng.standard_normal((130, 4096)) * np.exp(-np.arange(4096) / 500)).astype("float32")
    w = rng.standard_normal(u.shape).astype("float32")

    def loss(conv):
        return lambda u, k: ops.sum(ops.multiply(conv(u, k), w))

    fast_value, fast_grads = value_and_grad(loss(ssm_ops.fft_conv), u, k)
    ref_value, ref_grads = value_and_grad(loss(reference.fft_conv), u, k)
    assert_close(fast_value, ref_value)
    for fast, ref in zip(fast_grads, ref_grads):
        assert_close(fast, ref)


@pytest.mark.parametrize("two_sided", [False, True])
def test_one_kernel_per_example(two_sided):
    # (batch, features, length) kernels: each example its own convolution.
    rng = np.random.default_rng(6)
    u = rng.standard_normal((2, 37, 3)).astype("float32")
    k, kb = rng.standard_normal((2, 2, 3, 37)).astype("float32")
    w = rng.standard_normal(u.shape).astype("float32")
    expected = np.concatenate([direct(u[i : i + 1], k[i], kb[i] if two_sided else None) for i in range(2)])
    for fn in (ssm_ops.fft_conv, reference.fft_conv):
        assert_close(ops.convert_to_numpy(fn(u, k, kb if two_sided else None)), expected)

    def loss(conv):
        return lambda u, k, kb: ops.sum(ops.multiply(conv(u, k, kb if two_sided else None), w))

    fast_value, fast_grads = value_and_grad(loss(ssm_ops.fft_conv), u, k, kb)
    ref_value, ref_grads = value_and_grad(loss(reference.fft_conv), u, k, kb)
    assert_close(fast_value, ref_value)
    for fast, ref in zip(fast_grads, ref_grads):
        assert_close(fast, ref)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the torch fast path's channel chunks")
def test_torch_chunks_channels_on_cpu_only(monkeypatch):
    # CPU: 8 MiB channel chunks (130 channels of batch 2 at L 4096: two).
    # Elsewhere (CUDA): one chunk, not many small FFT launches.
    import torch

    from keras_ssm.ops import torch as torch_ops

    rng = np.random.default_rng(4)
    u = torch.from_numpy(rng.standard_normal((2, 4096, 130)).astype("float32"))
    k = torch.from_numpy(rng.standard_normal((130, 4096)).astype("float32"))
    expected = ops.convert_to_numpy(reference.fft_conv(u, k))
    calls = []
    rfft = torch.fft.rfft
    monkeypatch.setattr(torch.fft, "rfft", lambda *a, **kw: calls.append(1) or rfft(*a, **kw))
    counts = {}
    for on_cpu in (True, False):
        monkeypatch.setattr(torch_ops, "_chunks_channels", lambda device, on_cpu=on_cpu: on_cpu)
        calls.clear()
        y = ops.convert_to_numpy(torch_ops.fft_conv(u, k))
        counts[on_cpu] = len(calls)
        assert_close(y, expected)
    assert counts == {True: 3, False: 2}  # the kernel's spectrum + one per chunk
    monkeypatch.undo()
    # The real device check: a tensor off the CPU ("meta" here) is one chunk.
    assert torch_ops._channel_step(u, 4097) == 127
    assert torch_ops._channel_step(torch.empty(u.shape, device="meta"), 4097) == 130
