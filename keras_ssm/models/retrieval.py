"""The LRA retrieval model: two documents, one backbone."""

import keras
from keras import ops

from keras_ssm.layers.masking import PaddingMask
from keras_ssm.layers.pooling import SequencePooling
from keras_ssm.models.task import SSMTask


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMRetrievalClassifier(SSMTask):
    """Classifies a pair of documents (LRA "Retrieval", AAN).

    Both documents go through the same backbone and a masked mean pooling,
    giving `a` and `b`; the head sees `[a, b, a − b, a ⊙ b]` through
    `Dense(hidden, gelu)` and `Dense(num_classes)` (S5 and S4's decoder).

    Inputs: a pair of `(batch, length)` token arrays. Outputs logits.

    Example:
    >>> import numpy as np
    >>> from keras_ssm.models.backbone import SSMBackbone
    >>> backbone = SSMBackbone("s4d", depth=1, width=16, vocab_size=20,
    ...                        layer_kwargs={"state_dim": 8})
    >>> model = SSMRetrievalClassifier(backbone)
    >>> docs = np.array([[1, 2, 3, 0]]), np.array([[4, 5, 0, 0]])
    >>> tuple(model(docs).shape)
    (1, 2)
    """

    def __init__(self, backbone, num_classes=2, hidden=None, **kwargs):
        if backbone.vocab_size is None:
            raise ValueError("`backbone` must take token ids (build it with `vocab_size`).")
        hidden = hidden or backbone.width
        # === Layers ===
        padding_mask = PaddingMask(backbone.factors, name="output_mask")
        pooling = SequencePooling("mean", name="pooling")
        hidden_layer = keras.layers.Dense(hidden, activation="gelu", name="hidden")
        head = keras.layers.Dense(num_classes, name="logits")
        # === Functional model ===
        first = keras.Input((None,), dtype="int32", name="first")
        second = keras.Input((None,), dtype="int32", name="second")
        a, b = (pooling(backbone(d), mask=padding_mask(d)) for d in (first, second))
        features = ops.concatenate([a, b, a - b, a * b], axis=-1)
        super().__init__((first, second), head(hidden_layer(features)), **kwargs)
        self.backbone, self.pooling, self.hidden_layer, self.head = backbone, pooling, hidden_layer, head
        # === Config ===
        self.num_classes = num_classes
        self.hidden = hidden

    def check_inputs(self, inputs):
        """Raises a ValueError if either document holds a token id outside
        the backbone's vocabulary (see `SSMBackbone.check_inputs`)."""
        for document in inputs:
            self.backbone.check_inputs(document)

    def _task_config(self):
        return {"num_classes": self.num_classes, "hidden": self.hidden}
