import keras
import numpy as np
import pytest

from keras_ssm.layers.pooling import SequencePooling
from tests.layer_test_case import inputs, numpy


def test_mean_and_last_follow_the_mask():
    x = inputs(6)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 0]], bool)
    mean = numpy(SequencePooling("mean")(x, mask=mask))
    last = numpy(SequencePooling("last")(x, mask=mask))
    for i in range(3):
        np.testing.assert_allclose(mean[i], x[i][mask[i]].mean(0), atol=1e-6)
        np.testing.assert_allclose(last[i], x[i][mask[i]][-1], atol=1e-6)


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        SequencePooling("max")


def test_mean_of_a_long_float16_sequence_is_exact():
    # 16384 steps of 8 sum to 131072, past float16's 65504; the valid count
    # (16383) is not a float16 number. Both are reduced in float32.
    x = np.full((2, 16384, 3), 8.0, "float16")
    mask = np.ones((2, 16384), bool)
    mask[1, -1] = False
    pooling = SequencePooling("mean", dtype="mixed_float16")
    mean = pooling(x, mask=mask)
    assert keras.backend.standardize_dtype(mean.dtype) == "float16"
    np.testing.assert_array_equal(numpy(mean).astype("float32"), 8.0)
