"""One helper checks every SSM layer the same way (as keras-hub's run_layer_test).

`run_layer_test(cls, kwargs, oracle)` builds the layer and checks, on the
active backend:
- the full call against an independent numpy recurrence of
  `ssm_parameters()` (relative error <= 1e-4), with and without `step_scale`;
- `step` repeated over the sequence against the full call (<= 1e-5), for
  causal layers;
- masking: a right-padded batch gives the unpadded outputs at valid positions,
  and an arbitrary mask pattern equals the recurrence with masked inputs zeroed
  and masked outputs zero (DSS-softmax normalising over each example's length,
  its last valid step + 1);
- `.keras` round trip inside `keras.Sequential` (safe mode, no custom
  objects): same predictions, and a length the model was not built with;
- real arithmetic (the export form, no complex dtype or FFT): the call, at a
  `step_scale` and under a mask, against the recurrence and the usual pass,
  and, for causal layers, a stream fed chunk by chunk with real states.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

from keras_ssm import simulate
from keras_ssm.export import real_arithmetic

BATCH, FEATURES = 3, 4


def inputs(length, batch=BATCH, features=FEATURES, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, length, features)).astype("float32")


def relative_error(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))


def numpy(x):
    return ops.convert_to_numpy(x)


def params_for(layer, length, step_scale=1.0):
    """DSS-softmax's system depends on the length and, through its
    normalisation, on the step_scale of the call."""
    if _needs_length(layer):
        return layer.ssm_parameters(length=length, step_scale=step_scale)
    return layer.ssm_parameters()


def _needs_length(layer):
    return getattr(layer, "variant", None) == "softmax"


def check_oracle(layer, oracle, length, step_scale=1.0, **call_kwargs):
    x = inputs(length)
    y = numpy(layer(x, step_scale=step_scale, **call_kwargs))
    expected = oracle(params_for(layer, length, step_scale), x, step_scale, **call_kwargs)
    error = relative_error(y, expected)
    assert error <= 1e-4, f"relative error {error:.2e} against the recurrence"


def check_streaming(layer, length=40):
    x = inputs(length)
    full = numpy(layer(x))
    if _needs_length(layer):
        state = layer.get_initial_state(BATCH, length=length)
    else:
        state = layer.get_initial_state(BATCH)
    outputs = []
    for k in range(length):
        y, state = layer.step(x[:, k], state)
        outputs.append(numpy(y))
    # 1e-5 of the output's scale (DSS's no-scale versions output ~1/Δ more).
    scale = max(1.0, float(np.abs(full).max()))
    np.testing.assert_allclose(np.stack(outputs, axis=1), full, atol=1e-5 * scale, rtol=0)


def check_masking(layer, oracle, length=48):
    x = inputs(length, seed=1)
    lengths = [length, length - 5, length - 17]
    mask = np.arange(length)[None, :] < np.array(lengths)[:, None]
    padded = np.where(mask[..., None], x, 0.0).astype("float32")
    y = numpy(layer(padded, mask=mask))
    for i, n in enumerate(lengths):
        alone = numpy(layer(x[i : i + 1, :n]))
        np.testing.assert_allclose(y[i, :n], alone[0], atol=1e-5, rtol=1e-4)
    assert np.all(y[~mask] == 0.0)

    # Any pattern: masked steps feed no input and output zero.
    pattern = np.random.default_rng(2).random((BATCH, length)) > 0.3
    pattern[0, -1], pattern[1, -3:] = False, False  # examples shorter than the call
    y = numpy(layer(x, mask=pattern))
    expected = np.zeros_like(y, dtype=float)
    for i in range(BATCH):
        n = np.flatnonzero(pattern[i])[-1] + 1  # the example's length
        u = np.where(pattern[i, :n, None], x[i, :n], 0.0)[None]
        expected[i, :n] = oracle(params_for(layer, n), u)[0] * pattern[i, :n, None]
    assert relative_error(y, expected) <= 1e-4


def check_serialization(layer, tmp_path, length=32):
    model = keras.Sequential([keras.Input((None, FEATURES)), layer, keras.layers.Dense(2)])
    x = inputs(length)
    before = numpy(model(x))
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(numpy(loaded(x)), before, atol=1e-6, rtol=1e-6)
    assert loaded.layers[0].get_config() == layer.get_config()
    other = numpy(loaded(inputs(length + 13, seed=3)))
    assert other.shape == (BATCH, length + 13, 2) and np.all(np.isfinite(other))


def check_real_arithmetic(layer, oracle, length=48, step_scale=0.6):
    x = inputs(length, seed=4)
    mask = None if _needs_length(layer) else np.arange(length)[None] < np.array([[length], [30], [7]])
    usual = numpy(layer(x, mask=mask, step_scale=step_scale))
    with real_arithmetic(layer):
        real = numpy(layer(x, mask=mask, step_scale=step_scale))
    u = x if mask is None else np.where(mask[..., None], x, 0.0)
    expected = oracle(params_for(layer, length, step_scale), u, step_scale)
    expected = expected if mask is None else expected * mask[..., None]
    assert relative_error(real, expected) <= 1e-4
    scale = max(1.0, float(np.abs(usual).max()))
    np.testing.assert_allclose(real, usual, atol=1e-5 * scale, rtol=0)
    if layer.bidirectional or _needs_length(layer):
        return
    with real_arithmetic(layer):
        state, outputs = layer.get_initial_state(BATCH), []
        for start in range(0, length, 16):
            y, state = layer.chunk(x[:, start : start + 16], state, mask=mask[:, start : start + 16])
            outputs.append(numpy(y))
    assert tuple(state.shape)[-1] == 2 and "float" in str(state.dtype)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), numpy(layer(x, mask=mask)), atol=1e-5 * scale, rtol=0)


def run_layer_test(cls, kwargs, oracle, tmp_path, length=64, step_scale=0.6, **call_kwargs):
    layer = cls(seed=0, **kwargs)
    check_oracle(layer, oracle, length, **call_kwargs)
    check_oracle(layer, oracle, length, step_scale=step_scale, **call_kwargs)
    if not layer.bidirectional:
        check_streaming(layer)
    check_masking(layer, oracle)
    check_serialization(layer, tmp_path)
    if not call_kwargs:  # `timesteps` are not exported
        check_real_arithmetic(layer, oracle)


OTHER_BACKEND_LOADER = """
import json, sys
import numpy as np
import keras, keras_ssm
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
x = np.load(sys.argv[2], allow_pickle=False)
print(json.dumps(keras.ops.convert_to_numpy(model(x)).tolist()))
"""


def check_other_backends(model, x, tmp_path):
    """Saves `model` and loads it on the two other backends (fresh processes,
    safe mode, no custom objects): the predictions on `x` must agree."""
    expected = numpy(model(x))
    model_path, x_path = os.path.join(tmp_path, "model.keras"), os.path.join(tmp_path, "x.npy")
    model.save(model_path)
    np.save(x_path, x)
    for backend in sorted({"jax", "tensorflow", "torch"} - {keras.backend.backend()}):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        run = subprocess.run(
            [sys.executable, "-c", OTHER_BACKEND_LOADER, model_path, x_path],
            env=env, capture_output=True, text=True, check=False,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        got = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5, err_msg=backend)
