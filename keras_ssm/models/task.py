"""The base of the task models: a functional model around an `SSMBackbone`."""

import keras

from keras_ssm.layers.freezing import FROZEN_KEY, freeze_sublayers, frozen_sublayers
from keras_ssm.models.backbone import SSMBackbone
from keras_ssm.models.input_checks import ChecksArrayData
from keras_ssm.models.preprocessor import SSMPreprocessor, is_text
from keras_ssm.models.preset_loader import load_preset
from keras_ssm.models.rate import resolve_step_scale


class SSMTask(ChecksArrayData, keras.Model):
    """A task model (classifier, retrieval) that owns a backbone.

    Subclasses build their functional graph around `self.backbone` and list
    their own arguments in `_task_config()`; saving and loading the backbone
    and the preprocessor is handled here, with the `trainable` flags of the
    model's layers.

    `preprocessor` (keras-hub's `Task.preprocessor`): None, or an
    `SSMPreprocessor` that maps text to the token ids the model was trained
    on (`ByteTokenizer`, `ListOpsTokenizer`; a text preset's loader attaches
    its own). `predict` then takes strings too; arrays of ids go to the
    model as they are, and calling the model takes ids only.

    Example (an untrained byte-level model):
    >>> from keras_ssm.models import ByteTokenizer, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, vocab_size=257), num_classes=2,
    ...                       preprocessor=ByteTokenizer(sequence_length=4096))
    >>> model.predict(["A quiet, moving film.", "Dull."], verbose=0).shape
    (2, 2)
    """

    def __init__(self, *args, preprocessor=None, **kwargs):
        if preprocessor is not None and not isinstance(preprocessor, SSMPreprocessor):
            raise ValueError(
                "`preprocessor` must be None or a keras_ssm SSMPreprocessor (e.g. ByteTokenizer, "
                f"ListOpsTokenizer), got {type(preprocessor).__name__}."
            )
        super().__init__(*args, **kwargs)
        self.preprocessor = preprocessor
        # A functional model's `trainable=False` sets its own flag only.
        freeze_sublayers(self, ())

    def _task_config(self):
        return {}

    def check_inputs(self, inputs):
        """Raises a ValueError for inputs the model would get silently wrong
        (see `SSMBackbone.check_inputs`)."""
        self.backbone.check_inputs(inputs)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`; `x` may also be text (a list of strings)
        when the model has a `preprocessor`, which maps it to ids first."""
        if is_text(x):
            if self.preprocessor is None:
                raise ValueError(
                    "`x` holds text, but this model has no `preprocessor` to map it to the token ids "
                    "it takes: pass the ids (a preset's metadata `input` says how they are made), or "
                    "give the model one (`preprocessor=ByteTokenizer(...)`, `ListOpsTokenizer(...)`)."
                )
            x = self.preprocessor(x)
        return super().predict(x, *args, **kwargs)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            **self._task_config(),
        }
        if self.preprocessor is not None:  # configs without one stay as they were saved
            config["preprocessor"] = keras.saving.serialize_keras_object(self.preprocessor)
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
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        frozen = config.pop(FROZEN_KEY, None)
        model = cls(**config)
        freeze_sublayers(model, frozen)
        return model

    @classmethod
    def retarget_config(cls, config, step_scale):
        """A copy of a task config (`get_config()`, or the `"config"` of a
        preset's `config.json`) whose backbone runs with every step
        multiplied by `step_scale` (`SSMBackbone.retarget_config`).

        >>> from keras_ssm.models import SSMClassifier
        >>> model = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, input_dim=1), num_classes=2)
        >>> SSMClassifier.retarget_config(model.get_config(), 2.0)["backbone"]["config"]["step_scale"]
        2.0
        """
        config = dict(config)
        backbone = dict(config["backbone"])
        backbone["config"] = SSMBackbone.retarget_config(backbone["config"], step_scale)
        config["backbone"] = backbone
        return config

    def retarget(self, step_scale=None, *, sample_rate=None, trained_rate=None):
        """A new model with these weights, run at another sampling rate: its
        backbone's steps multiplied by `step_scale`, or by `trained_rate /
        sample_rate` (Hz) when those are given instead. The head is unchanged;
        the new model is not compiled.

        Example (a model trained on 16 kHz audio, fed 8 kHz):
        >>> import numpy as np
        >>> from keras_ssm.models import SSMClassifier
        >>> model = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1,
        ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
        >>> slower = model.retarget(sample_rate=8000, trained_rate=16000)
        >>> slower.backbone.step_scale, tuple(slower(np.zeros((1, 50, 1), "float32")).shape)
        (2.0, (1, 2))
        """
        step_scale = resolve_step_scale(step_scale, sample_rate, trained_rate)
        new = type(self).from_config(self.retarget_config(self.get_config(), step_scale))
        new.set_weights(self.get_weights())
        return new

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a preset (`keras_ssm.zoo`) holding a model of this class."""
        return load_preset(cls, preset, **kwargs)
