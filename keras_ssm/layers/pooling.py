"""Pooling a sequence to one vector, with masks."""

import keras
from keras import ops

from keras_ssm.layers.base import check_choice

POOLINGS = ("mean", "last")


@keras.saving.register_keras_serializable(package="keras_ssm")
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, length, H)` to `(batch, H)` over the valid steps.

    `"mean"`: the mean over unmasked steps (S5's masked mean pool);
    `"last"`: the last unmasked step (the causal read-out).

    Example:
    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> mask = np.array([[True, True, False]])
    >>> keras.ops.convert_to_numpy(SequencePooling("last")(x, mask=mask)).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, POOLINGS)
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], "bool")
        # float32: a float16 sum over 16k steps overflows, and float16 counts
        # no further than 2048.
        weights = ops.cast(mask, "float32")[..., None]
        count = ops.sum(weights, axis=1)
        if self.mode == "mean":
            mean = ops.sum(ops.cast(inputs, "float32") * weights, axis=1) / ops.maximum(count, 1.0)
            return ops.cast(mean, self.compute_dtype)
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32")[None]
        last = ops.max(positions * ops.cast(mask, "int32"), axis=1)[:, None, None]
        return ops.take_along_axis(inputs, last, axis=1)[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config
