"""The padding mask of a model's inputs, at the resolution of its outputs."""

import keras
from keras import ops

from keras_ssm.layers.downsample import downsample_mask


@keras.saving.register_keras_serializable(package="keras_ssm")
class PaddingMask(keras.layers.Layer):
    """`(batch, length)` bool: True at valid steps, after the backbone's
    downsampling `factors`.

    Token ids: valid where id != 0. Continuous inputs: the given `mask`, or
    every step when there is none.

    Example:
    >>> import numpy as np
    >>> keras.ops.convert_to_numpy(PaddingMask([2])(np.array([[3, 4, 5, 0, 0]]))).tolist()
    [[True, True, False]]
    """

    def __init__(self, factors=(), **kwargs):
        super().__init__(**kwargs)
        self.factors = [int(f) for f in factors]
        # It reads the mask as an argument and returns it as its output.
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if "int" in keras.backend.standardize_dtype(inputs.dtype):
            valid = ops.not_equal(inputs, 0)
        elif mask is None:
            valid = ops.ones(ops.shape(inputs)[:2], "bool")
        else:
            valid = ops.cast(mask, "bool")
        for factor in self.factors:
            if factor > 1:
                valid = downsample_mask(valid, factor)
        return valid

    def compute_output_spec(self, inputs, mask=None):
        length = inputs.shape[1]
        for factor in self.factors:
            length = None if length is None else -(-length // factor)
        return keras.KerasTensor((inputs.shape[0], length), dtype="bool")

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config["factors"] = list(self.factors)
        return config
