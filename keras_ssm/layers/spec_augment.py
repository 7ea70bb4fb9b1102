"""SpecAugment's masks on log-mel frames, in training only."""

import keras
from keras import ops

from keras_ssm.layers.frontend import SILENCE


@keras.saving.register_keras_serializable(package="keras_ssm")
class SpecAugment(keras.layers.Layer):
    """Masks random bands and stretches of `(batch, frames, bins)` features
    while training (Park et al., Interspeech 2019, without time warping); the
    identity otherwise, so inference, streaming and exports never see it.

    Each example gets `freq_masks` bands of up to `freq_width` bins and
    `time_masks` stretches of up to `time_width` frames (widths and
    positions drawn uniformly), set to `fill` (the front end's silence
    level by default).

    Args:
        freq_masks, freq_width: number and largest width of the bands.
        time_masks, time_width: number and largest length of the stretches.
        fill: the value of masked features (default: what `LogMelFrontend`
            gives for silence).
        seed: optional int.

    Example:
    >>> import numpy as np
    >>> layer = SpecAugment(freq_masks=1, freq_width=4, time_masks=1, time_width=5, fill=0.0, seed=0)
    >>> x = np.ones((2, 20, 10), "float32")
    >>> bool((keras.ops.convert_to_numpy(layer(x)) == 1).all())  # not training: unchanged
    True
    >>> masked = keras.ops.convert_to_numpy(layer(x, training=True))
    >>> bool((masked == 0).any()) and bool((masked == 1).any())
    True
    """

    def __init__(self, freq_masks=2, freq_width=8, time_masks=2, time_width=10, fill=SILENCE, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("freq_masks", freq_masks), ("freq_width", freq_width),
                            ("time_masks", time_masks), ("time_width", time_width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be an integer >= 0, got {value!r}.")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.fill, self.seed = float(fill), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _masks(self, batch, size, count, width):
        """`(batch, size)` bool: True inside any of `count` random spans."""
        positions = ops.arange(size)[None, :]
        covered = ops.zeros((batch, size), "bool")
        for _ in range(count):
            span = ops.floor(keras.random.uniform((batch, 1), 0, width + 1, seed=self.seed_generator))
            start = ops.floor(keras.random.uniform((batch, 1), 0, 1, seed=self.seed_generator)
                              * (ops.cast(size, "float32") - span + 1))
            index = ops.cast(positions, "float32")
            covered = ops.logical_or(covered, ops.logical_and(index >= start, index < start + span))
        return covered

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch, frames, bins = ops.shape(inputs)[0], ops.shape(inputs)[1], inputs.shape[2]
        bands = self._masks(batch, bins, self.freq_masks, self.freq_width)[:, None, :]
        stretches = self._masks(batch, frames, self.time_masks, self.time_width)[:, :, None]
        fill = ops.cast(self.fill, inputs.dtype)
        return ops.where(ops.logical_or(bands, stretches), fill, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"freq_masks": self.freq_masks, "freq_width": self.freq_width, "time_masks": self.time_masks,
                       "time_width": self.time_width, "fill": self.fill, "seed": self.seed})
        return config
