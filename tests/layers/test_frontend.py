"""The log-mel front end against numpy's FFT, by chunks, with masks, re-targeted."""

import keras
import numpy as np
import pytest

from keras_ssm import mel
from keras_ssm.data.speech import resample
from keras_ssm.layers.frontend import LogMelFrontend
from tests.layer_test_case import numpy


def reference(x, rate=16000, frame=400, hop=160, mels=40):
    """Causal frames, Hann window, |rfft|^2, mel filters, log: in numpy, float64."""
    x = np.asarray(x, np.float64)[..., 0]
    frames = -(-x.shape[1] // hop)
    padded = np.zeros((x.shape[0], frame - hop + frames * hop))
    padded[:, frame - hop : frame - hop + x.shape[1]] = x
    windows = np.stack([padded[:, k * hop : k * hop + frame] for k in range(frames)], axis=1)
    power = np.abs(np.fft.rfft(windows * np.hanning(frame + 1)[:frame], axis=-1)) ** 2 * mel.power_scale(frame)
    energy = power @ mel.mel_filterbank(frame, rate, mels, 20.0, 8000.0)
    return (np.log(energy + 1e-8) + 12.0) / 6.0


@pytest.fixture(scope="module")
def audio():
    return (np.random.default_rng(0).normal(size=(2, 3000, 1)) * 0.1).astype("float32")


def test_features_equal_numpy(audio):
    features, mask = LogMelFrontend(sample_rate=16000)(audio)
    np.testing.assert_allclose(numpy(features), reference(audio), atol=1e-5)
    assert numpy(mask).shape == (2, 19) and numpy(mask).all()


@pytest.mark.parametrize("chunk", [160, 480, 1600])
def test_chunks_equal_the_full_pass(audio, chunk):
    frontend = LogMelFrontend(sample_rate=16000)
    state, outputs = frontend.get_initial_state(2), []
    for start in range(0, 3000, chunk):
        part = audio[:, start : start + chunk]
        features, _, state = frontend.chunk(part, state, final=part.shape[1] % 160 > 0)
        outputs.append(numpy(features))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), reference(audio), atol=1e-5)
    with pytest.raises(ValueError, match="multiple of the hop"):
        LogMelFrontend().chunk(audio[:, :100], LogMelFrontend().get_initial_state(2))


def test_padded_batch_equals_each_clip_alone(audio):
    frontend = LogMelFrontend(sample_rate=16000)
    mask = np.arange(3000)[None] < np.array([[3000], [1234]])
    features, frame_mask = frontend(audio, mask=mask)
    alone = numpy(frontend(audio[1:, :1234])[0])
    np.testing.assert_allclose(numpy(features)[1, :8], alone[0], atol=1e-6)
    assert numpy(frame_mask)[1].sum() == 8


def test_a_lower_rate_measures_the_same_bands():
    # Broadband (seeded white noise, low-passed to the 4 kHz that an 8 kHz recording holds), so every band
    # below 4 kHz carries energy well above the log floor and is compared, not only those near a tone.
    noise = np.random.default_rng(0).normal(size=16000) * 0.1
    audio = resample(resample(noise, 16000, 8000), 8000, 16000).astype("float32")
    high = numpy(LogMelFrontend(sample_rate=16000)(audio[None, :, None])[0])[0, 10:90]
    low = numpy(LogMelFrontend(sample_rate=8000)(resample(audio, 16000, 8000)[None, :, None])[0])[0, 10:90]
    below = mel.mel_filterbank(400, 16000, 40, 20.0, 8000.0).argmax(0) < 400 * 3600 // 16000  # bands under 3.6 kHz
    assert below.sum() >= 28 and (high[:, below] > -0.5).all()  # energy in every compared band (floor: -1.07)
    np.testing.assert_allclose(low[:, below], high[:, below], atol=0.05)


def test_config_and_refusals():
    frontend = LogMelFrontend(sample_rate=8000, num_mel_bins=20)
    clone = LogMelFrontend.from_config(frontend.get_config())
    assert (clone.frame, clone.hop, clone.num_mel_bins) == (200, 80, 20)
    with pytest.raises(ValueError, match="whole, positive number of samples"):
        LogMelFrontend(sample_rate=11025)
    with pytest.raises(ValueError, match="must not exceed"):
        LogMelFrontend(frame_seconds=0.01, hop_seconds=0.02)
    with pytest.raises(ValueError, match="num_mel_bins"):
        LogMelFrontend(num_mel_bins=0)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(frontend)).hop == 80
