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


# Edge windows: the word located by its energy, and windows that cut it


def _word_clip(rng, length=1600, span=(600, 1000), background=0.01, loud=0.3):
    clip = rng.normal(0, background, length)
    clip[span[0]:span[1]] += rng.normal(0, loud, span[1] - span[0])
    return clip.astype(np.float32)


def test_energy_profile_locates_the_word_above_the_noise_floor():
    from keras_ssm.data.augment import energy_profile

    rng = np.random.default_rng(0)
    clips = np.stack([_word_clip(rng), _word_clip(rng, span=(0, 400)), np.zeros(1600, np.float32)])
    cumulative, background = energy_profile(clips, 16000)  # 10 ms = 160 samples: 10 frames
    assert cumulative.shape == (3, 11) and cumulative.dtype == np.float32
    np.testing.assert_array_equal(cumulative[:, [0, -1]], np.ones((3, 2)) * [0.0, 1.0])
    assert (np.diff(cumulative, axis=1) >= 0).all()
    # The first word fills frames 3.75-6.25: nothing of it before sample 480 (frame 3), all of it by 1120.
    assert cumulative[0, 3] < 0.01 and cumulative[0, 7] > 0.99 and 0.4 < cumulative[0, 5] < 0.6
    assert cumulative[1, 3] > 0.99  # the second one is over by frame 3
    np.testing.assert_allclose(background[:2], 0.01, rtol=0.3)  # the background's RMS
    # Digital silence has no word: every sample counts alike, and there is no background.
    np.testing.assert_allclose(cumulative[2], np.linspace(0, 1, 11), atol=1e-6)
    assert background[2] == 0


def test_edge_window_cuts_the_word_and_says_how_much_is_left():
    import tensorflow as tf

    from keras_ssm.data.augment import edge_window, energy_profile

    rng = np.random.default_rng(1)
    clip = _word_clip(rng)
    cumulative, background = energy_profile(clip, 16000)
    weights = np.repeat(np.diff(cumulative.astype(np.float64)) / 160, 160)  # the word's energy per sample
    noise = tf.constant(rng.uniform(-1, 1, (3, 1600)).astype(np.float32))
    tf.random.set_seed(0)
    shares, shifts = [], []
    for _ in range(200):
        window, inside, shift = edge_window(tf.constant(clip), tf.constant(cumulative), 160,
                                            float(background), noise)
        window, inside, s = window.numpy(), float(inside), int(shift)
        kept = slice(max(0, s), 1600 + min(0, s))
        np.testing.assert_array_equal(window[kept], clip[max(0, -s):1600 - max(0, s)])
        np.testing.assert_allclose(inside, weights[max(0, -s):1600 - max(0, s)].sum(), atol=1e-5)
        gap = np.concatenate([window[:max(0, s)], window[1600 + min(0, s):]])
        if len(gap) > 100:  # the background goes on across the edge, at the clip's level
            np.testing.assert_allclose(np.sqrt(np.mean(gap ** 2)), background, rtol=0.5)
        shares.append(inside)
        shifts.append(s)
    shares, shifts = np.array(shares), np.array(shifts)
    # Both edges, and a share left inside spread over [0, 1]: about half keep at least half of the word.
    assert (shifts > 0).mean() > 0.3 and (shifts < 0).mean() > 0.3
    assert 0.35 < (shares >= 0.5).mean() < 0.65
    assert np.histogram(shares, bins=4, range=(0, 1))[0].min() > 25
    # The cuts fall on the word (samples 600-1000, in the 10 ms frames 480-1120), not anywhere in the second.
    cut_at = np.where(shifts > 0, 1600 - shifts, -shifts)
    assert ((cut_at >= 480) & (cut_at <= 1120)).all()
    assert ((cut_at >= 600) & (cut_at <= 1000)).mean() > 0.8


def test_edge_window_without_noise_fills_the_gap_with_zeros():
    import tensorflow as tf

    from keras_ssm.data.augment import edge_window, energy_profile

    clip = _word_clip(np.random.default_rng(2))
    cumulative, _ = energy_profile(clip, 16000)
    window, _, shift = edge_window(tf.constant(clip), tf.constant(cumulative), 160)
    s = int(shift)
    gap = np.concatenate([window.numpy()[:max(0, s)], window.numpy()[1600 + min(0, s):]])
    assert len(gap) == abs(s) and not gap.any()
