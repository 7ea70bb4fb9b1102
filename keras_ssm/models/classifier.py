"""Sequence classification: a backbone, pooling and a linear head."""

import keras
from keras import ops

from keras_ssm.layers.pooling import SequencePooling
from keras_ssm.models.task import SSMTask
from keras_ssm.models.backbone import SSMBackbone


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMClassifier(SSMTask):
    """Classifies a sequence: backbone → masked pooling → `Dense(num_classes)`.

    Outputs logits `(batch, num_classes)`. The LRA / speech models of the S4D
    and S5 papers are this model (S5: `pooling="mean"`).

    Args:
        backbone: an `SSMBackbone`.
        num_classes: number of classes.
        pooling: `"mean"` (over unmasked steps) or `"last"`.

    Streaming (causal backbones): `get_initial_state(batch_size)` and
    `step(inputs_t, state)` give, at every step, the logits of the prefix
    seen so far — equal to the full pass over that prefix.

    Example:
    >>> import numpy as np
    >>> backbone = SSMBackbone("s5", depth=1, width=16, input_dim=1,
    ...                        layer_kwargs={"state_dim": 8})
    >>> model = SSMClassifier(backbone, num_classes=3)
    >>> tuple(model(np.zeros((2, 100, 1), "float32")).shape)
    (2, 3)
    """

    def __init__(self, backbone, num_classes, pooling="mean", **kwargs):
        # === Layers ===
        pooling_layer = SequencePooling(pooling, name="pooling")
        head = keras.layers.Dense(num_classes, name="logits")
        # === Functional model ===
        inputs = backbone.input
        features = backbone(inputs)
        pooled = pooling_layer(features, mask=backbone.padding_mask(inputs))
        super().__init__(inputs, head(pooled), **kwargs)
        self.backbone, self.pooling, self.head = backbone, pooling_layer, head
        # === Config ===
        self.num_classes = num_classes
        self.pooling_mode = pooling

    def get_initial_state(self, batch_size, **kwargs):
        """The backbone's state plus the running sum and count of the pooling."""
        return {
            "backbone": self.backbone.get_initial_state(batch_size, **kwargs),
            "sum": ops.zeros((batch_size, self.backbone.width)),
            "count": ops.zeros((batch_size, 1)),
        }

    def step(self, inputs_t, state):
        """One step: returns `(logits of the prefix, new_state)`."""
        features, backbone_state = self.backbone.step(inputs_t, state["backbone"])
        total, count = state["sum"] + features, state["count"] + 1.0
        pooled = total / count if self.pooling_mode == "mean" else features
        new_state = {"backbone": backbone_state, "sum": total, "count": count}
        return self.head(pooled), new_state

    def _task_config(self):
        return {"num_classes": self.num_classes, "pooling": self.pooling_mode}
