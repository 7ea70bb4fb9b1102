"""Seeds: a seeded model is reproducible, and its blocks are not copies."""

import numpy as np

from keras_ssm.models import SSMBackbone
from tests.layer_test_case import numpy


def test_seeded_blocks_get_different_weights():
    # The backbone offsets `layer_kwargs["seed"]` by the block index: with one
    # seed for all, every block started from identical SSM weights.
    backbone = SSMBackbone("s4d", depth=2, width=8, input_dim=1, layer_kwargs={"state_dim": 8, "seed": 0})
    first, second = ({w.path.split("/")[-1]: numpy(w) for w in b.layer.weights} for b in backbone.blocks)
    assert first.keys() == second.keys()
    assert not any(np.array_equal(first[name], second[name]) for name in ("C_re", "log_dt", "D"))
    again = SSMBackbone("s4d", depth=2, width=8, input_dim=1, layer_kwargs={"state_dim": 8, "seed": 0})
    for block, other in zip(backbone.blocks, again.blocks):
        for w, v in zip(block.layer.weights, other.layer.weights):
            np.testing.assert_array_equal(numpy(w), numpy(v))
