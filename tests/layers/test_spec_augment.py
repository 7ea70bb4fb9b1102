"""SpecAugment: masks of bounded width while training, the identity otherwise."""

import numpy as np
import pytest

from keras_ssm.layers.frontend import SILENCE
from keras_ssm.layers.spec_augment import SpecAugment
from keras_ssm.models import SSMBackbone
from tests.layer_test_case import numpy


def test_masks_are_bands_and_stretches_of_bounded_width():
    layer = SpecAugment(freq_masks=1, freq_width=5, time_masks=1, time_width=7, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (64, 50, 40)).astype("float32")
    np.testing.assert_array_equal(numpy(layer(x)), x)
    masked = numpy(layer(x, training=True)) == np.float32(SILENCE)
    bands = masked.all(axis=1)  # a band covers every frame
    stretches = masked.all(axis=2)  # a stretch covers every bin
    assert bands.sum(axis=1).max() <= 5 and stretches.sum(axis=1).max() <= 7
    assert bands.any(axis=1).mean() > 0.5 and stretches.any(axis=1).mean() > 0.5
    # Nothing else is masked: each masked entry lies in a band or a stretch.
    np.testing.assert_array_equal(masked, bands[:, None, :] | stretches[:, :, None])
    for row in list(bands) + list(stretches):  # one contiguous span each
        where = np.flatnonzero(row)
        assert len(where) == 0 or where[-1] - where[0] + 1 == len(where)


def test_config_and_refusals():
    layer = SpecAugment.from_config(SpecAugment(freq_masks=3, time_width=4).get_config())
    assert (layer.freq_masks, layer.time_width, layer.fill) == (3, 4, SILENCE)
    with pytest.raises(ValueError, match="freq_width"):
        SpecAugment(freq_width=-1)
    with pytest.raises(ValueError, match="needs a `frontend`"):
        SSMBackbone("s5", depth=1, width=8, input_dim=1, spec_augment={})
