"""The log-mel math against TensorFlow's own filterbank and numpy's FFT."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssm import mel


@pytest.mark.parametrize("frame_length, rate", [(400, 16000), (200, 8000)])
def test_filterbank_against_tensorflows(frame_length, rate):
    ours = mel.mel_filterbank(frame_length, rate, 40, 20.0, rate / 2)
    theirs = tf.signal.linear_to_mel_weight_matrix(40, frame_length // 2 + 1, rate, 20.0, rate / 2).numpy()
    # Same mel edges; TensorFlow draws each triangle linear in mel, ours is
    # linear in Hz (as HTK and librosa's htk=True), and it zeroes the DC bin.
    np.testing.assert_allclose(ours[1:], theirs[1:], atol=0.01)
    assert not ours[0].any()


def test_filters_are_hz_linear_triangles_on_mel_spaced_edges():
    filters = mel.mel_filterbank(4000, 16000, 10, 100.0, 7000.0)  # 4 Hz bins: fine enough to see the shape
    freqs = np.arange(2001) * 4.0
    edges = mel.mel_to_hz(np.linspace(mel.hz_to_mel(100.0), mel.hz_to_mel(7000.0), 12))
    np.testing.assert_allclose(freqs[filters.argmax(axis=0)], edges[1:-1], atol=2.0)
    between = (freqs > edges[1]) & (freqs < edges[-2])
    np.testing.assert_allclose(filters[between].sum(axis=1), 1.0, atol=1e-12)  # neighbours sum to one
    rising = (freqs > edges[0]) & (freqs < edges[1])
    slope = np.diff(filters[rising, 0]) / 4.0
    np.testing.assert_allclose(slope, 1.0 / (edges[1] - edges[0]), rtol=1e-9)  # straight in Hz


def test_filters_of_a_lower_rate_are_the_low_rows_of_a_higher_one():
    high = mel.mel_filterbank(400, 16000, 40, 20.0, 8000.0)
    low = mel.mel_filterbank(200, 8000, 40, 20.0, 8000.0)
    np.testing.assert_allclose(low, high[:101])
    assert not low[:, -5:].any() and high[:, -5:].any()  # the bands above 4 kHz


def test_dft_basis_and_power_scale():
    frame = np.random.default_rng(0).normal(size=400)
    out = frame @ mel.dft_basis(400)
    window = np.hanning(401)[:400]
    spectrum = np.fft.rfft(frame * window)
    np.testing.assert_allclose(out[:201] + 1j * out[201:], spectrum, atol=1e-9)
    # White noise: the power per bin, averaged, is its variance over the frame length.
    noise = np.random.default_rng(1).normal(0, 0.3, (4000, 400))
    power = np.abs(np.fft.rfft(noise * window, axis=1)) ** 2 * mel.power_scale(400)
    np.testing.assert_allclose(power[:, 1:-1].mean(), 0.09 / 400, rtol=0.02)


def test_bad_edges_are_refused():
    with pytest.raises(ValueError, match="lower_edge_hertz"):
        mel.mel_filterbank(400, 16000, 40, 4000.0, 300.0)
