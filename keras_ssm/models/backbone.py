"""The stack of SSM blocks shared by every task model."""

import keras
from keras import ops

from keras_ssm.layers.block import SSMBlock


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMBackbone(keras.Model):
    """Encoder and `depth` residual SSM blocks: `(batch, length[, input_dim])`
    in, `(batch, length, width)` features out.

    Token inputs (`vocab_size`) go through an `Embedding` with id 0 as padding
    (its mask flows through every block); continuous inputs (`input_dim`)
    through a `Dense` encoder (S5 feeds one-hot text the same way).

    Args:
        layer: `"s4d"`, `"dss"` or `"s5"`.
        depth: number of blocks.
        width: model width `H`.
        layer_kwargs: arguments of every block's SSM layer (e.g.
            `{"state_dim": 64, "bidirectional": True}`).
        vocab_size / input_dim: exactly one of them.
        norm, prenorm, activation, dropout: as in `SSMBlock`.

    Example:
    >>> import numpy as np
    >>> backbone = SSMBackbone("s4d", depth=2, width=16, vocab_size=10,
    ...                        layer_kwargs={"state_dim": 8})
    >>> tuple(backbone(np.array([[3, 4, 5, 0]])).shape)
    (1, 4, 16)
    """

    def __init__(
        self,
        layer="s5",
        depth=4,
        width=128,
        layer_kwargs=None,
        vocab_size=None,
        input_dim=None,
        norm="batch",
        prenorm=True,
        activation="half_glu1",
        dropout=0.0,
        **kwargs,
    ):
        if (vocab_size is None) == (input_dim is None):
            raise ValueError(
                "Give exactly one of `vocab_size` (token ids in) or `input_dim` (features "
                f"in); got vocab_size={vocab_size}, input_dim={input_dim}."
            )
        # === Layers === (attributes are set after the functional init: torch
        # modules cannot take sub-modules before it)
        if vocab_size is not None:
            encoder = keras.layers.Embedding(vocab_size, width, mask_zero=True, name="embedding")
        else:
            encoder = keras.layers.Dense(width, name="encoder")
        blocks = [
            SSMBlock(
                layer,
                layer_kwargs=layer_kwargs,
                norm=norm,
                prenorm=prenorm,
                activation=activation,
                dropout=dropout,
                name=f"block_{i}",
            )
            for i in range(depth)
        ]
        # === Functional model ===
        if vocab_size is not None:
            inputs = keras.Input((None,), dtype="int32", name="tokens")
        else:
            inputs = keras.Input((None, input_dim), name="inputs")
        x = encoder(inputs)
        for block in blocks:
            x = block(x)
        super().__init__(inputs, x, **kwargs)
        self.encoder, self.blocks = encoder, blocks
        # === Config ===
        self.layer = layer
        self.depth = depth
        self.width = width
        self.layer_kwargs = dict(layer_kwargs or {})
        self.vocab_size = vocab_size
        self.input_dim = input_dim
        self.norm = norm
        self.prenorm = prenorm
        self.activation = activation
        self.dropout = dropout

    def padding_mask(self, inputs):
        """`(batch, length)` mask of the valid steps (token id != 0), or None."""
        return None if self.vocab_size is None else ops.not_equal(inputs, 0)

    def get_initial_state(self, batch_size, **kwargs):
        """One state per block, for `step`."""
        return [block.get_initial_state(batch_size, **kwargs) for block in self.blocks]

    def step(self, inputs_t, state):
        """One streaming step: `(batch,)` token ids or `(batch, input_dim)`
        features in, `(batch, width)` out. Needs causal (unidirectional) layers."""
        x = self.encoder(inputs_t)
        new_state = []
        for block, block_state in zip(self.blocks, state):
            x, block_state = block.step(x, block_state)
            new_state.append(block_state)
        return x, new_state

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layer": self.layer,
            "depth": self.depth,
            "width": self.width,
            "layer_kwargs": self.layer_kwargs,
            "vocab_size": self.vocab_size,
            "input_dim": self.input_dim,
            "norm": self.norm,
            "prenorm": self.prenorm,
            "activation": self.activation,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
