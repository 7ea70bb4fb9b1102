"""Audio augmentation for training splits.

`band_limit` makes a classifier robust to the low-pass that a lower sampling
rate implies: a model trained at 8 kHz and run zero-shot at 4 kHz (its SSMs'
`step_scale` doubled) sees the same continuous signal with nothing above
2 kHz. Training on a random share of clips low-passed that way teaches it
not to rely on the band it will lose, while it still trains at one rate only.
"""

import numpy as np

from keras_ssm.data.speech import resample


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
