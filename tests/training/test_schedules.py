import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_ssm.training import WarmupCosine


def closed_form(step, peak, warmup, decay, end):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(step - warmup, decay) / decay
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * t))


PEAK, WARMUP, DECAY, END = 3e-3, 10, 40, 1e-4
STEPS = [0, 1, 5, 9, 10, 11, 30, 49, 50, 51, 1000]


def test_closed_form_values():
    # Hand values of the S5 schedule: warmup start/end, cosine start/middle/end.
    schedule = WarmupCosine(PEAK, WARMUP, DECAY, end=END)
    expected = {
        0: PEAK / 10,
        9: PEAK,  # the last warmup step reaches the peak
        10: PEAK,  # the cosine starts from the peak
        30: (PEAK + END) / 2,  # half-way down
        50: END,  # end of the cosine
        51: END,  # clamped after
        1000: END,
    }
    for step, value in expected.items():
        np.testing.assert_allclose(float(schedule(step)), value, rtol=1e-6, err_msg=f"step {step}")


@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_backend_tensor_steps(dtype):
    schedule = WarmupCosine(PEAK, WARMUP, DECAY, end=END)
    steps = ops.convert_to_tensor(np.array(STEPS), dtype=dtype)
    values = ops.convert_to_numpy(schedule(steps))
    expected = [closed_form(s, PEAK, WARMUP, DECAY, END) for s in STEPS]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-9)
    assert values.dtype == np.float32


def test_variable_step_like_optimizer_iterations():
    schedule = WarmupCosine(PEAK, WARMUP, DECAY, end=END)
    step = keras.Variable(0, dtype="int", trainable=False)
    for s in STEPS:
        step.assign(s)
        np.testing.assert_allclose(
            float(ops.convert_to_numpy(schedule(step))), closed_form(s, PEAK, WARMUP, DECAY, END), rtol=1e-5
        )


def test_no_warmup_starts_at_peak():
    schedule = WarmupCosine(1.0, 0, 4)
    values = [float(schedule(s)) for s in range(6)]
    np.testing.assert_allclose(values, [closed_form(s, 1.0, 0, 4, 0.0) for s in range(6)], atol=1e-7)
    assert values[0] == pytest.approx(1.0) and values[4] == pytest.approx(0.0, abs=1e-7)


def test_config_round_trip():
    schedule = WarmupCosine(PEAK, WARMUP, DECAY, end=END)
    config = schedule.get_config()
    assert WarmupCosine.from_config(config).get_config() == config
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(restored) is WarmupCosine and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(peak=1e-3, warmup_steps=-1, decay_steps=10),
        dict(peak=1e-3, warmup_steps=1.5, decay_steps=10),
        dict(peak=1e-3, warmup_steps=5, decay_steps=0),
        dict(peak="a", warmup_steps=5, decay_steps=10),
        dict(peak=1e-3, warmup_steps=5, decay_steps=10, end=float("nan")),
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        WarmupCosine(**kwargs)
