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
