"""The learning-rate schedule of the S4D, S5 and DSS training recipes.

The papers train with a per-step schedule: a linear warmup to the peak rate,
then a cosine decay to a floor (S5: `linear_warmup` then `cosine_annealing`).
`WarmupCosine` is that schedule as a serializable Keras
`LearningRateSchedule`, written with `keras.ops` only so that it evaluates on
a backend tensor (a traced JAX value, a TF graph tensor, a torch tensor) as
well as on a Python number.
"""

import math
import numbers

import keras
from keras import ops


def _check_int(name, value, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_real(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_ssm")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak`, then cosine decay to `end` (S4D / S5 / DSS recipe).

    With `s` the optimizer step (0 for the first update):

        s < warmup_steps:   peak · (s + 1) / warmup_steps
        otherwise:          end + (peak − end) · ½ (1 + cos(π · t)),
                            t = min(s − warmup_steps, decay_steps) / decay_steps

    so the warmup reaches `peak` on its last step, the cosine starts from
    `peak` at step `warmup_steps`, reaches `end` at step
    `warmup_steps + decay_steps`, and stays at `end` after. This is S5's
    schedule (`linear_warmup` for the warmup steps, then `cosine_annealing`
    over the remaining steps down to `lr_min`); S4D and DSS use the same
    shape. The papers apply it to both learning rates: the SSM parameters'
    `ssm_lr` and everything else's `lr` (see `keras_ssm.training.SSMAdamW`).

    Args:
        peak: the learning rate reached at the end of the warmup.
        warmup_steps: number of warmup steps (0: start the cosine at once).
        decay_steps: length of the cosine, in steps (at least 1); usually
            the total number of training steps minus `warmup_steps`.
        end: the final learning rate (the papers' `lr_min`), default 0.

    Example:
    >>> from keras_ssm.training import WarmupCosine
    >>> schedule = WarmupCosine(peak=1e-3, warmup_steps=10, decay_steps=90)
    >>> [round(float(schedule(s)), 8) for s in (0, 9, 10, 55, 100, 500)]
    [0.0001, 0.001, 0.001, 0.0005, 0.0, 0.0]
    """

    def __init__(self, peak, warmup_steps, decay_steps, end=0.0, name="WarmupCosine"):
        super().__init__()
        self.peak = _check_real("peak", peak)
        self.warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
        self.decay_steps = _check_int("decay_steps", decay_steps, 1)
        self.end = _check_real("end", end)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name, caller=self):
            step = ops.cast(ops.convert_to_tensor(step), "float32")
            warmup = self.peak * (step + 1.0) / float(max(self.warmup_steps, 1))
            t = ops.clip((step - float(self.warmup_steps)) / float(self.decay_steps), 0.0, 1.0)
            cosine = self.end + (self.peak - self.end) * 0.5 * (1.0 + ops.cos(math.pi * t))
            return ops.where(step < float(self.warmup_steps), warmup, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "end": self.end,
            "name": self.name,
        }
