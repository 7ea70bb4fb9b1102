"""Fast paths of `keras_ssm.ops` for the torch backend."""

import torch

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
