"""Fast paths of `keras_ssm.ops` for the torch backend."""

import keras
import torch

from keras_ssm.ops import chunked
from keras_ssm.ops.kernel import vandermonde  # noqa: F401
from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    n = fft_length(u.shape[1])
    y = _FFTConv.apply(u.float(), circular_kernel(kernel, kernel_backward, n).float())
    return y.to(u.dtype)


class _FFTConv(torch.autograd.Function):
    """`y = irfft(rfft(u) rfft(k))[:L]` with its gradient written out:
    torch's autograd of rfft rebuilds and copies the full two-sided spectrum,
    which made the backward pass 2-3x slower than this one. The FFTs run
    along the last axis, in the (B, H, L) layout pocketfft is fastest on."""

    @staticmethod
    def forward(ctx, u, circular):
        length, n = u.shape[1], circular.shape[-1]
        u_f = torch.fft.rfft(u.transpose(1, 2), n=n)
        k_f = torch.fft.rfft(circular)
        ctx.save_for_backward(u_f, k_f)
        return torch.fft.irfft(u_f * k_f, n=n)[..., :length].transpose(1, 2)

    @staticmethod
    def backward(ctx, grad_y):
        u_f, k_f = ctx.saved_tensors
        length, n = grad_y.shape[1], 2 * (u_f.shape[-1] - 1)
        g_f = torch.fft.rfft(grad_y.transpose(1, 2), n=n)
        grad_u = grad_k = None
        # The adjoint of a circular convolution is the circular correlation.
        if ctx.needs_input_grad[0]:
            grad_u = torch.fft.irfft(g_f * k_f.conj(), n=n)[..., :length].transpose(1, 2)
        if ctx.needs_input_grad[1]:
            grad_k = torch.fft.irfft((g_f * u_f.conj()).sum(0), n=n)
        return grad_u, grad_k


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
