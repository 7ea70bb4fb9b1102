"""Shortening a sequence between blocks, with masks (SaShiMi's pooling)."""

import keras
from keras import ops

from keras_ssm.layers.base import check_positive_int


def _frames(x, factor):
    """`(batch, length, ...)` → `(batch, ceil(length / factor), factor, ...)`,
    zero-padded at the end (the pad is static; the slice follows the length)."""
    length = ops.shape(x)[1]
    widths = [[0, 0], [0, factor - 1]] + [[0, 0]] * (len(x.shape) - 2)
    frames = (length + factor - 1) // factor
    x = ops.pad(x, widths)[:, : frames * factor]
    # `frames`, not -1: a static length stays static under a free batch axis.
    return ops.reshape(x, (ops.shape(x)[0], frames, factor, *x.shape[2:]))


def downsample_mask(mask, factor):
    """The mask after `SequenceDownsampling(factor)`: a frame is valid when
    it holds at least one valid step. `(batch, length)` → `(batch, ceil(length/factor))`.

    >>> import numpy as np
    >>> keras.ops.convert_to_numpy(downsample_mask(np.array([[1, 1, 1, 0, 0]], bool), 2)).tolist()
    [[True, True, False]]
    """
    return ops.any(_frames(ops.cast(mask, "bool"), factor), axis=2)


@keras.saving.register_keras_serializable(package="keras_ssm")
class SequenceDownsampling(keras.layers.Layer):
    """Mean over non-overlapping frames of `factor` steps: `(batch, length, H)`
    → `(batch, ceil(length / factor), H)`, and the frames' mask.

    The mean is over the valid steps of each frame (a frame is valid when it
    holds one), so a right-padded batch gives at its valid frames exactly the
    frames of each sequence alone; a last, partial frame is the mean of what
    it holds. Computed in float32. Between SSM blocks it is SaShiMi's pooling
    (Goel et al., 2022): later blocks run at `1 / factor` of the rate.

    Returns `(outputs, mask)`, the mask `(batch, ceil(length / factor))` bool.

    Example:
    >>> import numpy as np
    >>> x = np.arange(5, dtype="float32").reshape(1, 5, 1)
    >>> y, mask = SequenceDownsampling(2)(x)
    >>> keras.ops.convert_to_numpy(y)[0, :, 0].tolist(), keras.ops.convert_to_numpy(mask).tolist()
    ([0.5, 2.5, 4.0], [[True, True, True]])
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("factor", factor)
        self.factor = factor
        # The mask comes in as an argument and goes out as an output.
        self.supports_masking = True

    def call(self, inputs, mask=None):
        x = ops.cast(inputs, "float32")
        keep = ops.ones(ops.shape(x)[:2], "float32") if mask is None else ops.cast(mask, "float32")
        total = ops.sum(_frames(x * keep[..., None], self.factor), axis=2)
        count = ops.sum(_frames(keep, self.factor), axis=2)
        outputs = total / ops.maximum(count, 1.0)[..., None]
        return ops.cast(outputs, self.compute_dtype), count > 0

    def compute_output_spec(self, inputs, mask=None):
        length = None if inputs.shape[1] is None else -(-inputs.shape[1] // self.factor)
        return (
            keras.KerasTensor((inputs.shape[0], length, inputs.shape[2]), dtype=self.compute_dtype),
            keras.KerasTensor((inputs.shape[0], length), dtype="bool"),
        )

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config
