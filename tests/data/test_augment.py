import numpy as np
import pytest

from keras_ssm.data import speech
from keras_ssm.data.augment import band_limit
from tests.fsdd_fixture import write_fsdd


def test_band_limit_removes_the_band_a_lower_rate_loses():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8000).astype(np.float32)
    y = band_limit(x, 8000, 4000)
    assert y.shape == x.shape and y.dtype == np.float32
    freqs = np.fft.rfftfreq(8000, 1 / 8000)
    power_x, power_y = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(y)) ** 2
    above, below = freqs > 2400, freqs < 1500  # the polyphase filter's transition band lies between
    assert power_y[above].sum() < 1e-4 * power_x[above].sum()
    np.testing.assert_allclose(power_y[below].sum(), power_x[below].sum(), rtol=0.02)


def _train_clips(data):
    clips = {}
    for x, y in data.train:
        for row, label in zip(np.asarray(x)[..., 0], np.asarray(y)):
            clips.setdefault(int(label), []).append(row)
    return clips


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_fsdd_band_limits_training_clips_only(tmp_path, probability):
    write_fsdd(tmp_path, length=800)
    plain = speech.load_spoken_digits(tmp_path, batch_size=4, shuffle=False, bucket=False)
    augmented = speech.load_spoken_digits(tmp_path, batch_size=4, shuffle=False, bucket=False,
                                          band_limit_rate=4000, band_limit_probability=probability)
    for a, b in zip(_train_clips(plain).values(), _train_clips(augmented).values()):
        expected = [band_limit(r, 8000, 4000) if probability else r for r in a]
        np.testing.assert_allclose(np.stack(b), np.stack(expected), atol=1e-6)
    for split in ("validation", "test"):
        for (x, _), (x2, _) in zip(plain[split], augmented[split]):
            np.testing.assert_array_equal(x, x2)
    assert ("band-limited to 4000 Hz" in augmented.info["preprocessing"]) and "band" not in plain.info["preprocessing"]


def test_fsdd_band_limit_draws_per_clip(tmp_path):
    write_fsdd(tmp_path, repetitions=30, length=800)
    plain = np.concatenate(sum(_train_clips(speech.load_spoken_digits(
        tmp_path, batch_size=4, shuffle=False, bucket=False)).values(), []))
    mixed = speech.load_spoken_digits(tmp_path, batch_size=4, shuffle=False, bucket=False,
                                      band_limit_rate=4000, band_limit_probability=0.5)
    rows = np.concatenate(sum(_train_clips(mixed).values(), [])).reshape(-1, 800)
    same = np.all(rows == plain.reshape(-1, 800), axis=1)
    assert 0.2 < same.mean() < 0.8  # 60 clips, each kept with probability 1/2


@pytest.mark.parametrize("kwargs, message", [
    ({"band_limit_rate": 8000}, "`band_limit_rate`"),
    ({"band_limit_rate": -1}, "`band_limit_rate`"),
    ({"band_limit_rate": 4000, "band_limit_probability": 1.5}, "`band_limit_probability`"),
])
def test_fsdd_band_limit_refuses_bad_arguments(tmp_path, kwargs, message):
    write_fsdd(tmp_path)
    with pytest.raises(ValueError, match=message):
        speech.load_spoken_digits(tmp_path, **kwargs)
