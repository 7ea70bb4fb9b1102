"""Running a trained model at another sampling rate, kept in its config.

An SSM is a continuous-time system sampled with a learned step Δ: the same
system at another sampling rate is the same model with every step scaled
by `trained_rate / new_rate` (the `step_scale` of the layers). A backbone
keeps that factor in its config (`SSMBackbone(step_scale=...)`), so a
re-targeted model saves and loads as such.

A backbone with a log-mel `frontend` runs its SSMs at the frame rate, which
is set in seconds: re-targeting sets the front end's `sample_rate` instead
(its windows and filters follow, in samples), and the steps stay.
"""

import copy

import keras

BACKBONE_NAMES = ("SSMBackbone", "keras_ssm>SSMBackbone")


def _backbone_configs(config):
    """Every `SSMBackbone` config dict inside a serialized model config."""
    if isinstance(config, dict):
        if config.get("class_name") in BACKBONE_NAMES or config.get("registered_name") in BACKBONE_NAMES:
            yield config["config"]
        for value in config.values():
            yield from _backbone_configs(value)
    elif isinstance(config, list):
        for value in config:
            yield from _backbone_configs(value)


def step_scale_for_rate(trained_rate, sample_rate):
    """The `step_scale` that runs a model trained at `trained_rate` Hz on
    input sampled at `sample_rate` Hz: `trained_rate / sample_rate`.

    >>> step_scale_for_rate(8000, 4000)
    2.0
    """
    for name, value in (("trained_rate", trained_rate), ("sample_rate", sample_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` must be a positive number of Hz, got {value!r}.")
    return float(trained_rate) / float(sample_rate)


def retarget_config(config, step_scale):
    """A copy of a serialized model config (`keras.saving.serialize_keras_object`,
    the `config.json` of a preset) whose backbones run with their steps
    multiplied by `step_scale` (on top of any factor already there); a
    backbone with a `frontend` takes input at `sample_rate / step_scale`.

    Raises a `ValueError` if the config holds no `SSMBackbone`.

    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> config = retarget_config(keras.saving.serialize_keras_object(model), 2.0)
    >>> config["config"]["backbone"]["config"]["step_scale"]
    2.0
    """
    if isinstance(step_scale, bool) or not isinstance(step_scale, (int, float)) or not step_scale > 0:
        raise ValueError(f"`step_scale` must be a positive number, got {step_scale!r}.")
    config = copy.deepcopy(config)
    found = list(_backbone_configs(config))
    if not found:
        raise ValueError("The model config holds no keras_ssm SSMBackbone: nothing to re-target.")
    for backbone in found:
        if backbone.get("frontend"):
            frontend = backbone["frontend"]
            frontend["sample_rate"] = float(frontend.get("sample_rate", 16000)) / float(step_scale)
        else:
            backbone["step_scale"] = float(backbone.get("step_scale", 1.0)) * float(step_scale)
    return config


def retarget(model, step_scale):
    """A new model equal to `model` run with every step multiplied by
    `step_scale` (same weights; the factor is kept in its config).

    >>> import numpy as np
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> slower = retarget(model, 2.0)
    >>> slower.backbone.step_scale
    2.0
    """
    config = retarget_config(keras.saving.serialize_keras_object(model), step_scale)
    new = keras.saving.deserialize_keras_object(config, safe_mode=True)
    new.set_weights(model.get_weights())
    return new
