"""Fast paths of `keras_ssm.ops` for the torch backend."""

import keras
import torch

from keras_ssm.ops import chunked
from keras_ssm.ops.reference import circular_kernel, fft_length


def fft_conv(u, kernel, kernel_backward=None):
    n = fft_length(u.shape[1])
    y = _FFTConv.apply(u.float(), circular_kernel(kernel, kernel_backward, n).float())
    return y.to(u.dtype)


# On CPU, spectra are computed for this many bytes of channels at a time:
# glibc hands every block over 32 MiB out as fresh pages (a page fault per
# 4 KiB on each call), and small blocks stay in cache. 2x faster than
# whole-tensor FFTs. On CUDA chunks would only mean many small FFT launches.
CHUNK_BYTES = 8 * 2**20


def _chunks_channels(device):
    return device.type == "cpu"


def _channel_step(u, frequencies):
    """Channels per chunk of `_FFTConv`: all of them off the CPU."""
    batch, _, features = u.shape
    if not _chunks_channels(u.device):
        return max(1, features)
    return max(1, CHUNK_BYTES // (batch * frequencies * 8))


class _FFTConv(torch.autograd.Function):
    """`y = irfft(rfft(u) rfft(k))[:L]`, channel chunk by channel chunk, with
    its gradient written out (torch's autograd of rfft rebuilds and copies the
    full two-sided spectrum). The FFTs run along the last axis, in the
    (B, H, L) layout pocketfft is fastest on; the backward pass recomputes
    the input's spectrum rather than keeping it. The kernel is `(H, n)`, or
    `(B, H, n)` for one kernel per example."""

    @staticmethod
    def forward(ctx, u, circular):
        batch, length, features = u.shape
        n = circular.shape[-1]
        k_f = torch.fft.rfft(circular)
        step = _channel_step(u, k_f.shape[-1])
        y = u.new_empty(u.shape)
        for h in range(0, features, step):
            u_f = torch.fft.rfft(u[:, :, h : h + step].transpose(1, 2), n=n)
            y_h = torch.fft.irfft(u_f * k_f[..., h : h + step, :], n=n)[..., :length]
            y[:, :, h : h + step] = y_h.transpose(1, 2)
        ctx.save_for_backward(u, k_f)
        ctx.step, ctx.n = step, n
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, k_f = ctx.saved_tensors
        step, n = ctx.step, ctx.n
        length, features = u.shape[1], u.shape[2]
        per_example = k_f.dim() == 3
        grad_u = u.new_empty(u.shape) if ctx.needs_input_grad[0] else None
        grad_k = u.new_empty((*k_f.shape[:-1], n)) if ctx.needs_input_grad[1] else None
        # The adjoint of a circular convolution is the circular correlation.
        for h in range(0, features, step):
            g_f = torch.fft.rfft(grad_y[:, :, h : h + step].transpose(1, 2), n=n)
            if grad_u is not None:
                g_u = torch.fft.irfft(g_f * k_f[..., h : h + step, :].conj(), n=n)[..., :length]
                grad_u[:, :, h : h + step] = g_u.transpose(1, 2)
            if grad_k is not None:
                u_f = torch.fft.rfft(u[:, :, h : h + step].transpose(1, 2), n=n)
                g_k = g_f * u_f.conj()
                # A shared kernel sums over the batch (in frequency: one irfft).
                grad_k[..., h : h + step, :] = torch.fft.irfft(g_k if per_example else g_k.sum(0), n=n)
        return grad_u, grad_k


def to_complex(re, im):
    re = keras.ops.convert_to_tensor(re, "float32")
    im = keras.ops.convert_to_tensor(im, "float32")
    re, im = torch.broadcast_tensors(re, im)
    return torch.complex(re, im)


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
