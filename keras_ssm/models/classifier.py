"""Sequence classification: a backbone, pooling and a linear head."""

import keras
from keras import ops

from keras_ssm.layers.masking import PaddingMask
from keras_ssm.layers.pooling import SequencePooling
from keras_ssm.models.backbone import SSMBackbone  # noqa: F401 (the doctest)
from keras_ssm.models.task import SSMTask


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMClassifier(SSMTask):
    """Classifies a sequence: backbone → masked pooling → `Dense(num_classes)`.

    Outputs logits `(batch, num_classes)`. The LRA / speech models of the S4D
    and S5 papers are this model (S5: `pooling="mean"`). A continuous-input
    model takes `x` or `(x, mask)`, `mask` `(batch, length)` bool True at real
    samples: a padded batch gives the logits of each sequence alone.

    Args:
        backbone: an `SSMBackbone`.
        num_classes: number of classes.
        pooling: `"mean"` (over unmasked steps) or `"last"`.

    Streaming (causal backbones): `get_initial_state(batch_size)`, then
    `step(inputs_t, state)` per input step returns the logits of the prefix
    up to the last complete output frame of the backbone (every step when it
    does not downsample), and `finish(state)` the logits of the whole prefix —
    equal to the full pass over it. `chunk(inputs, state)` feeds many steps at
    once (see `SSMBackbone.chunk`; `keras_ssm.models.streaming.ClassifierStream`
    compiles it). DSS-softmax normalises its kernel over the whole sequence:
    its stream needs the length up front and matches the full pass only over
    a sequence of that length, so it does not stream by chunks.

    Example:
    >>> import numpy as np
    >>> backbone = SSMBackbone("s5", depth=1, width=16, input_dim=1,
    ...                        layer_kwargs={"state_dim": 8})
    >>> model = SSMClassifier(backbone, num_classes=3)
    >>> tuple(model(np.zeros((2, 100, 1), "float32")).shape)
    (2, 3)
    >>> mask = np.arange(100)[None] < np.array([[100], [60]])
    >>> tuple(model((np.zeros((2, 100, 1), "float32"), mask)).shape)
    (2, 3)
    """

    def __init__(self, backbone, num_classes, pooling="mean", **kwargs):
        # === Layers ===
        padding_mask = PaddingMask(backbone.factors, name="output_mask")
        pooling_layer = SequencePooling(pooling, name="pooling")
        # The last valid frame of a streamed chunk (built once, not per chunk).
        chunk_last = SequencePooling("last", name="chunk_last")
        head = keras.layers.Dense(num_classes, name="logits")
        # === Functional model ===
        inputs = backbone.input
        features = backbone(inputs)
        if backbone.vocab_size is not None:
            mask = padding_mask(inputs)
        else:
            mask = padding_mask(inputs[0], mask=inputs[1])
        pooled = pooling_layer(features, mask=mask)
        super().__init__(inputs, head(pooled), **kwargs)
        self.backbone, self.pooling, self.head = backbone, pooling_layer, head
        # Built here, since the graph above never calls it: Keras's JAX trainer
        # re-runs the whole model eagerly before every `predict` / `fit` /
        # `evaluate` while any of its layers is unbuilt.
        chunk_last.build(features.shape)
        self._chunk_last = chunk_last
        # === Config ===
        self.num_classes = num_classes
        self.pooling_mode = pooling

    def __call__(self, inputs, *args, **kwargs):
        # Checked before the functional model casts them to its input dtype.
        inputs = self.backbone._standardize(inputs)
        self.check_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        return super().call(self.backbone._standardize(inputs), training=training, mask=mask)

    def get_initial_state(self, batch_size, **kwargs):
        """The backbone's state plus the running sum and count of the pooling."""
        width = self.backbone.width
        return {
            "backbone": self.backbone.get_initial_state(batch_size, **kwargs),
            "sum": ops.zeros((batch_size, width)),
            "count": ops.zeros((batch_size, 1)),
            "last": ops.zeros((batch_size, width)),
        }

    def _pool(self, state, features, valid):
        keep = ops.cast(valid, "float32")[:, None]
        features = ops.cast(features, "float32")
        total, count = state["sum"] + features * keep, state["count"] + keep
        last = ops.where(keep > 0, features, state["last"])
        return total, count, last

    def _logits(self, total, count, last):
        pooled = total / ops.maximum(count, 1.0) if self.pooling_mode == "mean" else last
        return self.head(pooled)

    def step(self, inputs_t, state, mask_t=None):
        """One input step (`mask_t` `(batch,)` marks padded steps): returns
        `(logits, new_state)`, the logits of the prefix up to the backbone's
        last complete output frame."""
        features, valid, backbone_state = self.backbone.step(inputs_t, state["backbone"], mask_t=mask_t)
        if features is None:
            total, count, last = state["sum"], state["count"], state["last"]
        else:
            total, count, last = self._pool(state, features, valid)
        new_state = {"backbone": backbone_state, "sum": total, "count": count, "last": last}
        return self._logits(total, count, last), new_state

    def chunk(self, inputs, state, mask=None, final=False):
        """A chunk of the stream (see `SSMBackbone.chunk`): returns `(logits of
        the whole prefix, new_state)`, equal to the full pass over it; after
        a `final` chunk (any length) the stream is closed."""
        features, valid, backbone_state = self.backbone.chunk(inputs, state["backbone"], mask=mask, final=final)
        keep = ops.cast(valid, "float32")[..., None]
        features = ops.cast(features, "float32")
        total = state["sum"] + ops.sum(features * keep, axis=1)
        count = state["count"] + ops.sum(keep, axis=1)
        if features.shape[1] != 0:  # None (a traced length) holds at least one frame
            last_in_chunk = self._chunk_last(features, mask=valid)
            last = ops.where(ops.any(valid, axis=1)[:, None], last_in_chunk, state["last"])
        else:
            last = state["last"]
        new_state = {"backbone": backbone_state, "sum": total, "count": count, "last": last}
        return self._logits(total, count, last), new_state

    def finish(self, state):
        """The logits of everything streamed so far (the full pass over it),
        flushing the backbone's partial frames; `state` is unchanged."""
        features, valid, _ = self.backbone.finish(state["backbone"])
        if features is None:
            return self._logits(state["sum"], state["count"], state["last"])
        return self._logits(*self._pool(state, features, valid))

    def _task_config(self):
        return {"num_classes": self.num_classes, "pooling": self.pooling_mode}
