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
