"""The math of a log-mel front end: a windowed DFT basis and mel filters.

Kept in numpy and apart from the layer (`keras_ssm.layers.frontend`), as
`hippo.py` is for the SSM inits. Frequencies are in Hz and windows in
seconds, so the same front end at another sampling rate measures the same
continuous-time quantities: with a 25 ms window the DFT bins are 40 Hz apart
at 16 kHz and at 8 kHz, and the mel filters below 4 kHz are identical.
"""

import numpy as np


def hz_to_mel(hz):
    """The HTK mel scale: `2595 log10(1 + f / 700)`.

    >>> round(float(hz_to_mel(1000.0)), 1)
    1000.0
    """
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel):
    """The inverse of `hz_to_mel`.

    >>> round(float(mel_to_hz(hz_to_mel(440.0))), 6)
    440.0
    """
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def dft_basis(frame_length):
    """`(frame_length, 2 * bins)` float64: a periodic Hann window times the
    cosines and sines of the one-sided DFT, `bins = frame_length // 2 + 1`, so
    that `frame @ basis` holds `(Re X_k, Im X_k)` of the windowed frame.

    >>> import numpy as np
    >>> frame = np.random.default_rng(0).normal(size=8)
    >>> out = frame @ dft_basis(8)
    >>> spectrum = np.fft.rfft(frame * np.hanning(9)[:8])
    >>> bool(np.allclose(out[:5] + 1j * out[5:], spectrum))
    True
    """
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)
    k = np.arange(frame_length // 2 + 1)
    phase = 2 * np.pi * np.outer(n, k) / frame_length
    return np.concatenate([np.cos(phase), -np.sin(phase)], axis=1) * window[:, None]


def power_scale(frame_length):
    """The factor that makes `|X_k|^2` the signal's variance in bin `k`:
    `1 / (frame_length * sum(window^2))` (white noise of variance s^2 has
    `s^2 / frame_length` in every bin whatever the rate).

    >>> round(1 / power_scale(400))  # a periodic Hann window's sum(window^2) is 3/8 of its length
    60000
    """
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)
    return 1.0 / (frame_length * float(np.sum(window**2)))


def mel_filterbank(frame_length, sample_rate, num_mel_bins, lower_edge_hertz, upper_edge_hertz):
    """`(frame_length // 2 + 1, num_mel_bins)` float64 triangular filters on
    the DFT bins' frequencies `k * sample_rate / frame_length`, their edges
    equally spaced in mel between the two edges, each triangle linear in Hz
    (HTK's, and librosa's `filters.mel(htk=True, norm=None)`;
    `tf.signal.linear_to_mel_weight_matrix` draws them linear in mel).
    Filters above the Nyquist frequency of `sample_rate` are zero.

    >>> import numpy as np
    >>> low = mel_filterbank(200, 8000, 40, 20.0, 8000.0)
    >>> high = mel_filterbank(400, 16000, 40, 20.0, 8000.0)
    >>> bool(np.allclose(low, high[:101]))
    True
    """
    if not 0 <= lower_edge_hertz < upper_edge_hertz:
        raise ValueError(
            f"`lower_edge_hertz` ({lower_edge_hertz}) must be >= 0 and below `upper_edge_hertz` "
            f"({upper_edge_hertz})."
        )
    freqs = np.arange(frame_length // 2 + 1) * sample_rate / frame_length
    edges = mel_to_hz(np.linspace(hz_to_mel(lower_edge_hertz), hz_to_mel(upper_edge_hertz), num_mel_bins + 2))
    low, center, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - low) / (center - low)
    falling = (high - freqs[:, None]) / (high - center)
    return np.maximum(0.0, np.minimum(rising, falling))
