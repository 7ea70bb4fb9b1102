"""Audio augmentation for training splits.

`band_limit` makes a classifier robust to the low-pass that a lower sampling
rate implies: a model trained at 8 kHz and run zero-shot at 4 kHz (its SSMs'
`step_scale` doubled) sees the same continuous signal with nothing above
2 kHz. Training on a random share of clips low-passed that way teaches it
not to rely on the band it will lose, while it still trains at one rate only.
"""

import math

import numpy as np


def resample(audio, rate, new_rate):
    """Resamples along the last axis with a polyphase low-pass filter (float32).

    >>> import numpy as np
    >>> resample(np.zeros((2, 16000), np.float32), 16000, 8000).shape
    (2, 8000)
    """
    audio = np.asarray(audio, np.float32)
    if rate == new_rate:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(new_rate))
    return resample_poly(audio, int(new_rate) // g, int(rate) // g, axis=-1).astype(np.float32)


def band_limit(audio, rate, limit_rate):
    """`audio` (1-D, at `rate` Hz) with nothing above `limit_rate / 2` Hz, same length.

    Resampled down to `limit_rate` and back with the polyphase filter that
    the loaders' `sample_rate` uses, so the band removed is the one a model
    run at `limit_rate` would not see.

    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> x = np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 3000 * t)
    >>> y = band_limit(x, 8000, 4000)
    >>> y.shape, bool(np.abs(y[1000:7000] - np.sin(2 * np.pi * 500 * t[1000:7000])).max() < 0.05)
    ((8000,), True)
    """
    if not 0 < limit_rate < rate:
        raise ValueError(f"`band_limit_rate` must lie between 0 and the sample rate {rate}; got {limit_rate}.")
    audio = np.asarray(audio, np.float32)
    restored = resample(resample(audio, rate, limit_rate), limit_rate, rate)
    out = np.zeros_like(audio)
    n = min(len(audio), len(restored))
    out[:n] = restored[:n]
    return out


# Random perturbations of one training clip, in TensorFlow ops (run inside
# the `tf.data` pipeline); each takes a 1-D float32 clip and keeps its length.


def random_speed(audio, max_change):
    """`audio` played at a random speed in `[1 - max_change, 1 + max_change]`
    (linear interpolation; the pitch moves with it), cut or zero-padded to
    its length.

    >>> import tensorflow as tf
    >>> random_speed(tf.ones([100]), 0.1).shape
    TensorShape([100])
    """
    import tensorflow as tf

    length = tf.shape(audio)[0]
    factor = tf.random.uniform([], 1.0 - max_change, 1.0 + max_change)
    position = tf.range(tf.cast(length, tf.float32)) * factor
    left = tf.cast(tf.floor(position), tf.int32)
    weight = position - tf.floor(position)
    padded = tf.concat([audio, tf.zeros([2])], axis=0)
    inside = tf.cast(left < length, tf.float32)
    left = tf.minimum(left, length)
    return inside * ((1.0 - weight) * tf.gather(padded, left) + weight * tf.gather(padded, left + 1))


def random_shift(audio, max_shift):
    """`audio` moved by a random number of samples in `[-max_shift, max_shift]`,
    zeros filling the gap.

    >>> import tensorflow as tf
    >>> random_shift(tf.range(5, dtype=tf.float32), 0).numpy().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    import tensorflow as tf

    length = tf.shape(audio)[0]
    shift = tf.random.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
    padded = tf.pad(audio, [[max_shift, max_shift]])
    return padded[max_shift - shift : max_shift - shift + length]


def random_gain(audio, max_db):
    """`audio` times a random gain in `[-max_db, max_db]` dB, clipped to [-1, 1].

    >>> import tensorflow as tf
    >>> louder = random_gain(tf.fill([4], 0.1), 6.0).numpy()
    >>> bool(0.05 <= louder[0] <= 0.2 and (louder == louder[0]).all())
    True
    """
    import tensorflow as tf

    gain = 10.0 ** (tf.random.uniform([], -max_db, max_db) / 20.0)
    return tf.clip_by_value(audio * gain, -1.0, 1.0)


def mix_noise(audio, noise, probability, max_volume):
    """With `probability`, `audio` plus a random one of the `noise` clips
    `(n, length)` (e.g. the training split's background-noise clips), rolled by
    a random offset and scaled by a volume in `[0, max_volume]` (as
    TensorFlow's speech_commands example mixes its background noise).

    >>> import tensorflow as tf
    >>> mixed = mix_noise(tf.zeros([4]), tf.ones([2, 4]), probability=1.0, max_volume=0.1).numpy()
    >>> bool(((0 <= mixed) & (mixed <= 0.1)).all() and (mixed == mixed[0]).all())
    True
    """
    import tensorflow as tf

    length = tf.shape(audio)[0]
    clip = noise[tf.random.uniform([], 0, tf.shape(noise)[0], dtype=tf.int32)]
    clip = tf.roll(clip, tf.random.uniform([], 0, length, dtype=tf.int32), axis=0)
    volume = tf.random.uniform([], 0.0, max_volume) * tf.cast(tf.random.uniform([]) < probability, tf.float32)
    return tf.clip_by_value(audio + volume * clip, -1.0, 1.0)


# Edge windows: what a keyword spotter sees in a stream when its 1 s window
# cuts a word. The word is located by its energy, computed once per clip in
# numpy (`energy_profile`); `edge_window` shifts a clip in the tf.data
# pipeline and says how much of the word's energy stayed inside.

EDGE_FRAME_SECONDS = 0.01
EDGE_FLOOR_PERCENTILE = 10
EDGE_FLOOR_RATIO = 1e-3  # -30 dB below the loudest frame


def energy_profile(audio, rate):
    """The word's cumulative energy over a clip, and the clip's background level.

    `audio` is `(..., length)` float at `rate` Hz. The clip is cut into 10 ms
    frames (`rate // 100` samples, the last one possibly shorter) and each
    frame's power (mean square) measured. The noise floor is the larger of
    the 10th percentile of the frame powers (the background between words)
    and 1/1000 of the loudest frame's power (-30 dB); a frame's word energy
    is its power above that floor times its length, spread evenly over its
    samples. A clip with no frame above its floor (silence, stationary noise)
    counts every sample alike.

    Returns:
        `(cumulative, background)`: float32 `(..., frames + 1)`, the share of
        the clip's word energy before each frame boundary (0 first, 1 last;
        between boundaries it grows linearly), and float32 `(...)`, the
        background's RMS (the square root of the 10th-percentile power).

    >>> import numpy as np
    >>> clip = np.zeros(1000, np.float32)
    >>> clip[600:800] = 0.5  # a "word" in frames 6 and 7 of ten
    >>> cumulative, background = energy_profile(clip, 10000)
    >>> cumulative.round(2).tolist(), float(background)
    ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0], 0.0)
    """
    audio = np.asarray(audio, np.float64)
    length = audio.shape[-1]
    frame = max(1, int(rate * EDGE_FRAME_SECONDS))
    frames = -(-length // frame)
    padded = np.zeros(audio.shape[:-1] + (frames * frame,))
    padded[..., :length] = audio
    sizes = np.full(frames, frame, np.float64)
    sizes[-1] = length - (frames - 1) * frame
    power = (padded ** 2).reshape(audio.shape[:-1] + (frames, frame)).sum(-1) / sizes
    quiet = np.percentile(power, EDGE_FLOOR_PERCENTILE, axis=-1)
    floor = np.maximum(quiet, EDGE_FLOOR_RATIO * power.max(-1))
    energy = np.maximum(power - floor[..., None], 0.0) * sizes
    total = energy.sum(-1, keepdims=True)
    uniform = np.broadcast_to(sizes, energy.shape)  # no word found: every sample alike
    energy = np.where(total > 0, energy, uniform)
    cumulative = np.concatenate([np.zeros(energy.shape[:-1] + (1,)), np.cumsum(energy, -1)], -1)
    cumulative = cumulative / cumulative[..., -1:]
    cumulative[..., -1] = 1.0
    return cumulative.astype(np.float32), np.sqrt(quiet).astype(np.float32)


def _energy_before(cumulative, frame, length, t):
    """Share of the word's energy in samples `[0, t)` (tf; `t` int32 in [0, length])."""
    import tensorflow as tf

    frames = tf.shape(cumulative)[0] - 1
    k = tf.minimum(t // frame, frames - 1)
    start = k * frame
    size = tf.minimum(frame, length - start)
    step = tf.cast(t - start, tf.float32) / tf.cast(size, tf.float32)
    return cumulative[k] + step * (cumulative[k + 1] - cumulative[k])


def _sample_reaching(cumulative, frame, length, share):
    """About the first sample count `t` whose `[0, t)` holds `share` of the word's energy."""
    import tensorflow as tf

    j = tf.cast(tf.searchsorted(cumulative[None], tf.reshape(share, [1, 1]), side="left")[0, 0], tf.int32)
    k = tf.maximum(j - 1, 0)
    j = tf.maximum(j, 1)
    start = k * frame
    size = tf.minimum(frame, length - start)
    within = tf.math.divide_no_nan(share - cumulative[k], cumulative[j] - cumulative[k])
    t = start + tf.cast(tf.math.ceil(within * tf.cast(size, tf.float32)), tf.int32)
    return tf.clip_by_value(t, 0, length)


def edge_window(audio, cumulative, frame, background=0.0, noise=None):
    """`audio` shifted so that its window holds only part of its word, and that part.

    `cumulative` is the clip's word energy from `energy_profile` (frame
    `frame` samples). One edge is drawn with equal odds, and a share `u`
    uniform in [0, 1]: the clip moves right until about `u` of its word's
    energy is left inside (its end cut off), or left likewise (its start cut
    off). So the windows concentrate where the word meets the window's edge,
    and about half of them keep at least half of the word. The gap it leaves
    is zeros, or, given `noise` clips `(n, length)`, a random one of them
    rolled by a random offset and scaled to the RMS `background` (the clip's
    own background level), so the background goes on across the edge.

    Returns:
        `(shifted, inside, shift)`: the clip (same length), the share of the
        word's energy still inside (float32, from `cumulative` at the
        integer shift), and the shift in samples (int32; > 0: moved right,
        `shifted[t] = audio[t - shift]`).

    >>> import numpy as np, tensorflow as tf
    >>> clip = np.zeros(1000, np.float32)
    >>> clip[600:800] = 0.5
    >>> cumulative, _ = energy_profile(clip, 10000)
    >>> shifted, inside, shift = edge_window(tf.constant(clip), tf.constant(cumulative), 100)
    >>> kept = np.abs(shifted.numpy()).sum() / np.abs(clip).sum()
    >>> bool(abs(kept - float(inside)) < 1e-5 and 0 <= float(inside) <= 1)
    True
    """
    import tensorflow as tf

    length = tf.shape(audio)[0]
    right = tf.random.uniform([]) < 0.5
    share = tf.random.uniform([])
    # Right: samples [0, length - shift) stay, holding `share`; left: [-shift, length) do.
    cut = _sample_reaching(cumulative, frame, length, tf.where(right, share, 1.0 - share))
    shift = tf.where(right, length - cut, -cut)
    inside = tf.where(right, _energy_before(cumulative, frame, length, length - shift),
                      1.0 - _energy_before(cumulative, frame, length, -shift))
    padded = tf.pad(audio, [[length, length]])
    shifted = padded[length - shift : 2 * length - shift]
    if noise is not None:
        position = tf.range(length)
        kept = (position >= shift) & (position < length + shift)
        clip = noise[tf.random.uniform([], 0, tf.shape(noise)[0], dtype=tf.int32)]
        clip = tf.roll(clip, tf.random.uniform([], 0, length, dtype=tf.int32), axis=0)
        scale = tf.math.divide_no_nan(tf.cast(background, tf.float32), tf.sqrt(tf.reduce_mean(clip ** 2)))
        shifted = tf.where(kept, shifted, scale * clip)
    return shifted, tf.clip_by_value(inside, 0.0, 1.0), shift
