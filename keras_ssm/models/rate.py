"""Running a trained model at another sampling rate, kept in its config.

An SSM is a continuous-time system sampled with a learned step Δ: the same
system at another sampling rate is the same model with every step scaled
by `trained_rate / new_rate` (the `step_scale` of the layers). A backbone
keeps that factor in its config (`SSMBackbone(step_scale=...)`), so a
re-targeted model saves and loads as such.

A backbone with a log-mel `frontend` runs its SSMs at the frame rate, which
is set in seconds: re-targeting sets the front end's `sample_rate` instead
(its windows and filters follow, in samples), and the steps stay.

The backbone owns the edit (`SSMBackbone.retarget_config`); every route
goes through it: `SSMBackbone.retarget`, `SSMTask.retarget` (and its
`retarget_config`, which `keras_ssm.zoo.load(..., sample_rate=)` applies to
a preset's config before building), `retarget` below, and the `--rate` of
`python -m keras_ssm evaluate` / `zoo evaluate`.
"""

import numbers


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number of Hz, got {value!r}.")


def step_scale_for_rate(trained_rate, sample_rate):
    """The `step_scale` that runs a model trained at `trained_rate` Hz on
    input sampled at `sample_rate` Hz: `trained_rate / sample_rate`.

    >>> step_scale_for_rate(8000, 4000)
    2.0
    """
    _check_rate("trained_rate", trained_rate)
    _check_rate("sample_rate", sample_rate)
    return float(trained_rate) / float(sample_rate)


def resolve_step_scale(step_scale=None, sample_rate=None, trained_rate=None):
    """The factor of a `retarget` call: `step_scale` as given, or
    `trained_rate / sample_rate` (one of the two forms, not both).

    >>> resolve_step_scale(2.0), resolve_step_scale(sample_rate=8000, trained_rate=16000)
    (2.0, 2.0)
    """
    rates_given = sample_rate is not None or trained_rate is not None
    if (step_scale is None) != rates_given or (rates_given and None in (sample_rate, trained_rate)):
        raise ValueError(
            "Give either `step_scale` or both `sample_rate` (Hz of the input the model will get) and "
            f"`trained_rate` (Hz it was trained at); got step_scale={step_scale!r}, "
            f"sample_rate={sample_rate!r}, trained_rate={trained_rate!r}."
        )
    if step_scale is None:
        return step_scale_for_rate(trained_rate, sample_rate)
    if isinstance(step_scale, bool) or not isinstance(step_scale, numbers.Real) or not step_scale > 0:
        raise ValueError(f"`step_scale` must be a positive number, got {step_scale!r}.")
    return float(step_scale)


def retarget(model, step_scale):
    """A new model equal to `model` run with every step multiplied by
    `step_scale` (same weights; the factor is kept in its config):
    `model.retarget(step_scale)` of an `SSMBackbone` or task model.

    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> slower = retarget(model, 2.0)
    >>> slower.backbone.step_scale
    2.0
    """
    if not callable(getattr(model, "retarget", None)):
        raise ValueError(
            f"`model` must be a keras_ssm SSMBackbone or task model (SSMClassifier, ...), got "
            f"{type(model).__name__}: only those know how to run at another rate."
        )
    return model.retarget(step_scale)
