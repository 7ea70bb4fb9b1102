"""The base of the task models: a functional model around an `SSMBackbone`."""

import keras


class SSMTask(keras.Model):
    """A task model (classifier, retrieval) that owns a backbone.

    Subclasses build their functional graph around `self.backbone` and list
    their own arguments in `_task_config()`; saving and loading the backbone
    is handled here.
    """

    def _task_config(self):
        return {}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            **self._task_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a preset (`keras_ssm.zoo`) holding a model of this class."""
        from keras_ssm.zoo import from_preset

        return from_preset(cls, preset, **kwargs)
