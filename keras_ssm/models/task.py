"""The base of the task models: a functional model around an `SSMBackbone`."""

import keras

from keras_ssm.layers.freezing import FROZEN_KEY, freeze_sublayers, frozen_sublayers
from keras_ssm.models.input_checks import ChecksArrayData
from keras_ssm.models.preset_loader import load_preset


class SSMTask(ChecksArrayData, keras.Model):
    """A task model (classifier, retrieval) that owns a backbone.

    Subclasses build their functional graph around `self.backbone` and list
    their own arguments in `_task_config()`; saving and loading the backbone
    is handled here, with the `trainable` flags of the model's layers.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A functional model's `trainable=False` sets its own flag only.
        freeze_sublayers(self, ())

    def _task_config(self):
        return {}

    def check_inputs(self, inputs):
        """Raises a ValueError for inputs the model would get silently wrong
        (see `SSMBackbone.check_inputs`)."""
        self.backbone.check_inputs(inputs)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            **self._task_config(),
        }
        # The head and pooling are rebuilt from the arguments: their flags
        # are kept here (the backbone keeps its own in its config).
        frozen = frozen_sublayers(self, skip=(self.backbone,))
        if frozen:
            config[FROZEN_KEY] = frozen
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        frozen = config.pop(FROZEN_KEY, None)
        model = cls(**config)
        freeze_sublayers(model, frozen)
        return model

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a preset (`keras_ssm.zoo`) holding a model of this class."""
        return load_preset(cls, preset, **kwargs)
