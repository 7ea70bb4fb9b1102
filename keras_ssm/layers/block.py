"""The residual block around a sequence layer, as S4D and S5 train them."""

import keras
from keras import ops

from keras_ssm.layers.base import SSMLayer, check_choice
from keras_ssm.layers.dss import DSSLayer
from keras_ssm.layers.freezing import FROZEN_KEY, freeze_sublayers, frozen_sublayers
from keras_ssm.layers.s4d import S4DLayer
from keras_ssm.layers.s5 import S5Layer

SEQUENCE_LAYERS = {"s4d": S4DLayer, "dss": DSSLayer, "s5": S5Layer}
NORMS = ("batch", "layer")
ACTIVATIONS = ("gelu", "glu", "half_glu1", "half_glu2")


def sequence_layer(layer, **kwargs):
    """An SSM layer from a name (`"s4d"`, `"dss"`, `"s5"`) and its arguments,
    or the instance itself.

    Example:
    >>> sequence_layer("s5", state_dim=16).__class__.__name__
    'S5Layer'
    """
    if isinstance(layer, SSMLayer):
        if kwargs:
            raise ValueError("Pass either a layer instance or a name with arguments, not both.")
        return layer
    check_choice("layer", layer, tuple(SEQUENCE_LAYERS))
    return SEQUENCE_LAYERS[layer](**kwargs)


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMBlock(keras.layers.Layer):
    """Normalization, an SSM layer, an activation, dropout and a residual.

    Pre-norm (the S5 / S4 LRA default): `x + act(ssm(norm(x)))`; post-norm:
    `norm(x + act(ssm(x)))`. Activations (S5 paper's code, §B; `drop` is
    dropout with one mask per feature for all time steps):

    | `activation` | output |
    |---|---|
    | `gelu` | `drop(gelu(y))` |
    | `glu` | `z = drop(gelu(y))`; `drop(W₁z ⊙ σ(W₂z))` |
    | `half_glu1` | `z = drop(gelu(y))`; `drop(z ⊙ σ(W₂z))` |
    | `half_glu2` | `z = drop(gelu(y))`; `drop(y ⊙ σ(W₂z))` |

    Masks pass through; BatchNorm statistics ignore masked steps.

    Args:
        layer: the sequence layer: an `S4DLayer`, `DSSLayer` or `S5Layer`
            instance, or its name `"s4d"`, `"dss"`, `"s5"`.
        layer_kwargs: arguments of the layer when `layer` is a name.
        norm: `"batch"` or `"layer"`.
        prenorm: normalize before the SSM (True) or after the residual.
        activation: one of the table above.
        dropout: rate, tied over time.
        norm_momentum: BatchNorm's running-statistics momentum (S5: 0.95 on
            most tasks, 0.9 on Pathfinder / Path-X).
        norm_epsilon: the norm's epsilon (Keras: 1e-3; torch and flax, so the
            papers' code: 1e-5).
        gelu_approximate: GELU's tanh approximation (True, the default of
            `keras.ops.gelu` and of flax's `nn.gelu`, which S5's code uses) or
            the exact erf form (False, torch's `nn.GELU` default, as S4's code).

    Inputs `(batch, length, H)`, outputs the same shape.

    Attributes: `layer`, `norm` and `dropout` are the sublayers (as
    `keras.layers.Wrapper.layer`); the choices they were made from are
    `norm_type` and `dropout_rate`. A backbone's `layer`, `norm` and `dropout`
    are those choices (a name, a name, a rate), its blocks the layers. The
    sublayers' attribute names are the paths of their weights in a saved
    model, so they stay as they are.

    Example:
    >>> import numpy as np
    >>> block = SSMBlock("s4d", layer_kwargs={"state_dim": 16}, activation="half_glu1")
    >>> type(block.norm).__name__, block.norm_type, block.dropout_rate
    ('BatchNormalization', 'batch', 0.0)
    >>> tuple(block(np.ones((2, 50, 8), "float32")).shape)
    (2, 50, 8)
    """

    def __init__(
        self,
        layer="s5",
        layer_kwargs=None,
        norm="batch",
        prenorm=True,
        activation="gelu",
        dropout=0.0,
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        gelu_approximate=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("norm", norm, NORMS)
        if not 0.0 <= norm_momentum < 1.0:
            raise ValueError(f"`norm_momentum` must be in [0, 1), got {norm_momentum!r}.")
        if not norm_epsilon > 0:
            raise ValueError(f"`norm_epsilon` must be positive, got {norm_epsilon!r}.")
        if not isinstance(gelu_approximate, bool):
            raise ValueError(f"`gelu_approximate` must be True or False, got {gelu_approximate!r}.")
        check_choice("activation", activation, ACTIVATIONS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
        self.layer = sequence_layer(layer, **(layer_kwargs or {}))
        self.norm_type = norm
        self.prenorm = bool(prenorm)
        self.activation = activation
        self.dropout_rate = float(dropout)
        self.norm_momentum = float(norm_momentum)
        self.norm_epsilon = float(norm_epsilon)
        self.gelu_approximate = gelu_approximate
        # The norm and dropout follow the block's dtype policy.
        policy = {"dtype": self.dtype_policy}
        if norm == "batch":
            self.norm = keras.layers.BatchNormalization(
                momentum=self.norm_momentum, epsilon=self.norm_epsilon, name="norm", **policy
            )
        else:
            self.norm = keras.layers.LayerNormalization(epsilon=self.norm_epsilon, name="norm", **policy)
        self.dropout = keras.layers.SpatialDropout1D(self.dropout_rate, name="dropout", **policy)
        self.supports_masking = True
        # `trainable=False` reaches the norm made here, as it does the weights made in `build`.
        freeze_sublayers(self, ())

    def build(self, input_shape):
        features = input_shape[-1]
        # A deserialized sublayer may come built already.
        for sublayer in (self.norm, self.layer):
            if not sublayer.built:
                sublayer.build(input_shape)
        if self.activation == "glu":
            self.value_kernel, self.value_bias = self._dense_weights("value", features)
        if self.activation != "gelu":
            self.gate_kernel, self.gate_bias = self._dense_weights("gate", features)

    def _dense_weights(self, name, features):
        kernel = self.add_weight(name=f"{name}_kernel", shape=(features, features), initializer="glorot_uniform")
        bias = self.add_weight(name=f"{name}_bias", shape=(features,), initializer="zeros")
        return kernel, bias

    def _activate(self, y, training):
        z = self.dropout(ops.gelu(y, approximate=self.gelu_approximate), training=training)
        if self.activation == "gelu":
            return z

        # `step` runs outside `__call__`, where variables are not autocast.
        def dense(kernel, bias):
            return ops.matmul(z, ops.cast(kernel, z.dtype)) + ops.cast(bias, z.dtype)

        gate = ops.sigmoid(dense(self.gate_kernel, self.gate_bias))
        if self.activation == "glu":
            value = dense(self.value_kernel, self.value_bias)
        else:
            value = z if self.activation == "half_glu1" else y
        return self.dropout(value * gate, training=training)

    def _normalize(self, x, mask, training):
        if self.norm_type == "batch":
            return self.norm(x, training=training, mask=mask)
        return self.norm(x)

    def call(self, inputs, mask=None, training=None, **layer_kwargs):
        if layer_kwargs.get("return_state"):
            raise ValueError(
                "`return_state`: SSMBlock returns its outputs only. Carry the SSM state "
                "with `block.chunk(inputs, state)` (from `block.get_initial_state(batch_size)`), "
                "which returns `(outputs, new_state)`."
            )
        return self._residual(inputs, mask, training, lambda x: self.layer(x, mask=mask, **layer_kwargs))

    def _residual(self, inputs, mask, training, mix):
        # Under a mixed policy the input may come as float32 (the block on its
        # own) and the sublayers may follow another policy: the residual is
        # taken in the block's compute dtype.
        inputs = ops.cast(inputs, self.compute_dtype)
        x = self._normalize(inputs, mask, training) if self.prenorm else inputs
        y = self._activate(ops.cast(mix(x), self.compute_dtype), training)
        out = inputs + y
        return out if self.prenorm else ops.cast(self._normalize(out, mask, training), self.compute_dtype)

    def chunk(self, inputs, state, mask=None, **layer_kwargs):
        """The block over a chunk `(batch, C, H)` from the SSM's `state`
        (inference mode): `(outputs, new_state)`, equal to the full pass when
        a stream is fed chunk by chunk (see the layer's `chunk`)."""
        new_state = []

        def mix(x):
            y, state_out = self.layer.chunk(x, state, mask=mask, **layer_kwargs)
            new_state.append(state_out)
            return y

        outputs = self._residual(ops.convert_to_tensor(inputs), mask, False, mix)
        return outputs, new_state[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_initial_state(self, batch_size, **kwargs):
        """The state of the block's SSM layer (see its `get_initial_state`)."""
        return self.layer.get_initial_state(batch_size, **kwargs)

    def step(self, inputs_t, state, mask_t=None, **layer_kwargs):
        """One streaming step, `(batch, H)` in and out; norms in inference mode.

        `mask_t` `(batch,)` bool: a masked step feeds nothing to the state (as
        a masked step of the full pass), and its output is meaningless.
        """
        x = inputs_t = ops.cast(ops.convert_to_tensor(inputs_t), self.compute_dtype)
        if self.prenorm:
            x = self._normalize(x[:, None], None, False)[:, 0]
        if mask_t is not None:
            x = x * ops.cast(mask_t, x.dtype)[:, None]
        y, state = self.layer.step(x, state, **layer_kwargs)
        out = inputs_t + self._activate(ops.cast(y, self.compute_dtype)[:, None], training=False)[:, 0]
        if not self.prenorm:
            out = ops.cast(self._normalize(out[:, None], None, False)[:, 0], self.compute_dtype)
        return out, state

    def get_config(self):
        config = super().get_config()
        config.update(
            layer=keras.saving.serialize_keras_object(self.layer),
            norm=self.norm_type,
            prenorm=self.prenorm,
            activation=self.activation,
            dropout=self.dropout_rate,
            norm_momentum=self.norm_momentum,
            norm_epsilon=self.norm_epsilon,
            gelu_approximate=self.gelu_approximate,
        )
        frozen = frozen_sublayers(self, skip=(self.layer,))
        if frozen:
            config[FROZEN_KEY] = frozen
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        frozen = config.pop(FROZEN_KEY, None)
        block = cls(**config)
        freeze_sublayers(block, frozen)
        return block
