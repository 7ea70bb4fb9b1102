"""Fast paths of `keras_ssm.ops` for the torch backend."""

import keras
import torch

from keras_ssm.ops import chunked
from keras_ssm.ops.kernel import vandermonde  # noqa: F401
from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    length = u.shape[1]
    n = fft_length(length)
    k = torch.fft.rfft(circular_kernel(kernel, kernel_backward, n), dim=-1)
    x = torch.fft.rfft(u.float(), n=n, dim=1)
    y = torch.fft.irfft(x * k.T[None], n=n, dim=1)[:, :length]
    return y.to(u.dtype)


# --- linear recurrence (linear_scan) ---


def linear_scan(a, b, reverse=False, initial_state=None, chunk=chunked.CHUNK):
    """`keras_ssm.ops.chunked` scan with its hand-written gradient: eager
    autodiff through the unrolled chunk loop is ~1.5x slower, and keras'
    `associative_scan` drops imaginary parts on torch. (The private
    `torch._higher_order_ops.associative_scan` is not used.)"""
    a = keras.ops.convert_to_tensor(a, "complex64")
    b = keras.ops.convert_to_tensor(b, "complex64")
    if initial_state is None:
        h0 = torch.zeros_like(b[:, 0])
    else:
        h0 = keras.ops.convert_to_tensor(initial_state, "complex64")
    x = _ChunkedScan.apply(a, b, h0, bool(reverse), chunk)
    return x, (x[:, 0] if reverse else x[:, -1])


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0, reverse, chunk):
        x = chunked.forward(a, b, h0, reverse, chunk)
        ctx.save_for_backward(a, h0, x)
        ctx.reverse, ctx.chunk = reverse, chunk
        return x

    @staticmethod
    def backward(ctx, grad_x):
        a, h0, x = ctx.saved_tensors
        return (*chunked.backward(a, h0, x, grad_x, ctx.reverse, ctx.chunk), None, None)
