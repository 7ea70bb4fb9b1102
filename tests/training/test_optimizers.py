import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
from keras_ssm.training import SSMAdamW, WarmupCosine, build_optimizer
from tests.grad_utils import value_and_grad

LR, SSM_LR, WD = 0.05, 0.01, 0.1
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-4


def make_model(layer=None, features=4, length=6):
    layer = layer or keras_ssm.S4DLayer(state_dim=8, seed=0)
    model = keras.Sequential([keras.Input((length, features)), layer, keras.layers.Dense(1)])
    return model, layer


def batch(batch_size=3, length=6, features=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, length, features)).astype("float32")
    y = rng.standard_normal((batch_size, length, 1)).astype("float32")
    return x, y


def numpy(x):
    return ops.convert_to_numpy(x)


def mse_gradients(model, x, y):
    """The gradient of the compiled loss ("mse") at the current weights."""
    values = [numpy(v) for v in model.trainable_variables]
    target = y

    def loss(*weights):
        out, _ = model.stateless_call(list(weights), [numpy(v) for v in model.non_trainable_variables], x)
        return ops.mean(ops.square(out - ops.convert_to_tensor(target)))

    _, grads = value_and_grad(loss, *values, jit=True)
    return values, grads


def adamw_first_step(w, g, lr, wd):
    """Keras' AdamW, first step (t = 1), in float64: decoupled decay, then Adam."""
    w, g = np.asarray(w, "float64"), np.asarray(g, "float64")
    w = w - w * wd * lr
    m = (1 - BETA_1) * g
    v = (1 - BETA_2) * g**2
    alpha = lr * math.sqrt(1 - BETA_2) / (1 - BETA_1)
    return w - m * alpha / (np.sqrt(v) + EPSILON)


def ids(variables):
    return {id(v) for v in variables}


def test_one_step_matches_hand_computed_adamw():
    keras.utils.set_random_seed(0)
    model, layer = make_model()
    x, y = batch()
    optimizer = SSMAdamW(
        learning_rate=LR, ssm_learning_rate=SSM_LR, weight_decay=WD, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON
    )
    model.compile(optimizer=optimizer, loss="mse")
    before, grads = mse_gradients(model, x, y)
    model.train_on_batch(x, y)

    ssm = ids(layer.ssm_variables)
    assert len(ssm) == 5  # a_real, a_imag, B_re, B_im, log_dt
    assert ids(optimizer.ssm_variables) == ssm
    checked = {"ssm": 0, "other": 0}
    for variable, w, g in zip(model.trainable_variables, before, grads):
        after = numpy(variable)
        if id(variable) in ssm:
            kind, expected = "ssm", adamw_first_step(w, g, SSM_LR, 0.0)
            # ... and not what the main group would have given.
            wrong = adamw_first_step(w, g, LR, WD)
            assert np.max(np.abs(after - wrong)) > 1e-3, variable.path
        else:
            kind, expected = "other", adamw_first_step(w, g, LR, WD)
        np.testing.assert_allclose(after, expected, rtol=1e-5, atol=2e-6, err_msg=f"{kind}: {variable.path}")
        checked[kind] += 1
    assert checked == {"ssm": 5, "other": 5}  # C_re, C_im, D, kernel, bias
    assert int(numpy(optimizer.iterations)) == 1


# The papers' groups, from S5's train_helpers (opt_config, dt_global) and
# S4's optimizer hooks: (rate, decays) of each role; others (the Dense) regular.
PLACEMENTS = {
    ("standard", "ssm"): {"Lambda": "ssm", "step": "ssm", "B": "ssm", "C": "main+wd", "D": "main+wd"},
    ("BandCdecay", "ssm"): {"Lambda": "ssm", "step": "ssm", "B": "ssm+wd", "C": "main+wd", "D": "main+wd"},
    ("BfastandCdecay", "ssm"): {"Lambda": "ssm", "step": "ssm", "B": "main+wd", "C": "main+wd", "D": "main+wd"},
    ("noBCdecay", "ssm"): {"Lambda": "ssm", "step": "ssm", "B": "ssm", "C": "ssm", "D": "ssm"},
    ("standard", "global_decay"): {"Lambda": "ssm", "step": "main+wd", "B": "ssm", "C": "main+wd", "D": "main+wd"},
    ("BfastandCdecay", "global"): {"Lambda": "ssm", "step": "main", "B": "main+wd", "C": "main+wd", "D": "main+wd"},
}


@pytest.mark.parametrize("groups, dt", sorted(PLACEMENTS))
@pytest.mark.parametrize("layer_cls", ["S4DLayer", "S5Layer"])
def test_the_papers_groups_one_step_by_hand(groups, dt, layer_cls):
    keras.utils.set_random_seed(0)
    model, layer = make_model(getattr(keras_ssm, layer_cls)(state_dim=8, seed=0))
    x, y = batch()
    optimizer = SSMAdamW(learning_rate=LR, ssm_learning_rate=SSM_LR, weight_decay=WD, beta_1=BETA_1,
                         beta_2=BETA_2, epsilon=EPSILON, groups=groups, dt=dt)
    model.compile(optimizer=optimizer, loss="mse")
    before, grads = mse_gradients(model, x, y)
    model.train_on_batch(x, y)
    roles = set()
    for variable, w, g in zip(model.trainable_variables, before, grads):
        role = getattr(variable, "ssm_role", None)
        roles.add(role)
        place = PLACEMENTS[(groups, dt)].get(role, "main+wd")
        lr = SSM_LR if place.startswith("ssm") else LR
        wd = WD if place.endswith("+wd") else 0.0
        np.testing.assert_allclose(numpy(variable), adamw_first_step(w, g, lr, wd), rtol=1e-5, atol=2e-6,
                                   err_msg=f"{groups}/{dt}: {variable.path} ({role}, {place})")
    assert roles == {"Lambda", "step", "B", "C", "D", None}
    config = optimizer.get_config()
    assert (config["groups"], config["dt"]) == (groups, dt)


def test_unknown_groups_are_refused():
    with pytest.raises(ValueError, match="`groups` must be one of"):
        SSMAdamW(groups="Cdecay")
    with pytest.raises(ValueError, match="`dt` must be one of"):
        SSMAdamW(dt="fast")


def test_apply_when_every_variable_is_an_ssm_parameter():
    # No variable decays at all: the (fused, on torch) decay gets no variable.
    keras.utils.set_random_seed(0)
    _, layer = make_model()
    optimizer = SSMAdamW(learning_rate=LR, ssm_learning_rate=SSM_LR, weight_decay=WD, epsilon=EPSILON)
    variables = layer.ssm_variables
    before = [numpy(v) for v in variables]
    grads = [np.full(v.shape, 0.5, "float32") for v in before]
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
    for variable, w, g in zip(variables, before, grads):
        np.testing.assert_allclose(numpy(variable), adamw_first_step(w, g, SSM_LR, 0.0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layer_cls", ["S4DLayer", "DSSLayer", "S5Layer"])
def test_groups_come_from_the_tags(layer_cls):
    model, layer = make_model(getattr(keras_ssm, layer_cls)(state_dim=8, seed=0))
    optimizer = SSMAdamW(learning_rate=LR, ssm_learning_rate=SSM_LR, weight_decay=WD)
    optimizer.build(model.trainable_variables)
    tagged = [v for v in model.trainable_variables if getattr(v, "ssm_optimizer", None)]
    assert tagged and ids(optimizer.ssm_variables) == ids(layer.ssm_variables) == ids(tagged)
    for v in model.trainable_variables:
        assert optimizer._use_weight_decay(v) == (id(v) not in ids(tagged))


def test_user_exclusions_are_kept():
    model, layer = make_model()
    model.build((None, 6, 4))
    kernel = model.layers[-1].kernel
    optimizer = SSMAdamW(learning_rate=LR, ssm_learning_rate=SSM_LR, weight_decay=WD)
    optimizer.exclude_from_weight_decay(var_list=[kernel], var_names=["bias"])
    optimizer.build(model.trainable_variables)
    excluded = ids(layer.ssm_variables) | {id(kernel), id(model.layers[-1].bias)}
    for v in model.trainable_variables:
        assert optimizer._use_weight_decay(v) == (id(v) not in excluded), v.path
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])  # would drop the SSM exclusions


def test_runs_what_keras_adamw_runs_on_this_backend():
    # On torch `keras.optimizers.AdamW()` is a fused foreach implementation;
    # SSMAdamW derives from whatever class AdamW really instantiates.
    assert type(keras.optimizers.AdamW()) in type(SSMAdamW()).__mro__
    assert isinstance(SSMAdamW(), keras.optimizers.AdamW)


def test_unsupported_tag_is_refused():
    model, layer = make_model()
    model.build((None, 6, 4))
    layer.ssm_variables[0].ssm_optimizer = {"learning_rate": 0.5, "weight_decay": 0.0}
    with pytest.raises(ValueError, match="supports the tag"):
        SSMAdamW().build(model.trainable_variables)


def test_schedules_through_fit_set_the_applied_learning_rates():
    # With beta_1 = beta_2 = 0 every Adam step moves each weight by
    # lr · g / (|g| + eps): the largest move of a variable is the learning
    # rate its group was given at that step. (eps = 1e-9 is far below the
    # largest gradients, and keeps float32 underflow of g² for gradients
    # ~1e-20 from giving |g| / sqrt(g²) != 1.)
    keras.utils.set_random_seed(0)
    model, layer = make_model()
    x, y = batch()
    peak, ssm_peak, lr_min, warmup, total = 0.02, 0.005, 0.002, 2, 5
    optimizer = build_optimizer(
        lr=peak, ssm_lr=ssm_peak, weight_decay=0.0, warmup_steps=warmup, total_steps=total, lr_min=lr_min,
        beta_1=0.0, beta_2=0.0, epsilon=1e-9,
    )
    main_schedule = WarmupCosine(peak, warmup, total - warmup, end=lr_min)
    ssm_schedule = WarmupCosine(ssm_peak, warmup, total - warmup, end=lr_min)

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rates, self.weights = [], []

        def on_epoch_begin(self, epoch, logs=None):
            opt = self.model.optimizer
            self.rates.append(
                (int(numpy(opt.iterations)), float(numpy(opt.learning_rate)), float(numpy(opt.ssm_learning_rate)))
            )
            self.weights.append([numpy(v) for v in self.model.trainable_variables])

        def on_train_end(self, logs=None):
            self.weights.append([numpy(v) for v in self.model.trainable_variables])

    record = Record()
    model.compile(optimizer=optimizer, loss="mse")
    epochs = total + 1  # one step after the end of the cosine
    model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0, callbacks=[record])

    ssm = ids(layer.ssm_variables)
    for k in range(epochs):
        main_k, ssm_k = float(main_schedule(k)), float(ssm_schedule(k))
        assert record.rates[k][0] == k
        np.testing.assert_allclose(record.rates[k][1:], [main_k, ssm_k], rtol=1e-6)
        for variable, w0, w1 in zip(model.trainable_variables, record.weights[k], record.weights[k + 1]):
            applied = float(np.max(np.abs(w1.astype("float64") - w0)))
            expected = ssm_k if id(variable) in ssm else main_k
            assert applied == pytest.approx(expected, rel=2e-3), (k, variable.path, applied, expected)
    assert [round(r[1], 6) for r in record.rates] == [0.01, 0.02, 0.02, 0.0155, 0.0065, 0.002]


def schedule_optimizer():
    return build_optimizer(lr=4e-3, ssm_lr=1e-3, weight_decay=0.05, warmup_steps=3, total_steps=20, lr_min=1e-5,
                           clipnorm=1.0)


def test_get_config_round_trip():
    optimizer = schedule_optimizer()
    config = optimizer.get_config()
    assert config["ssm_learning_rate"]["class_name"] == "WarmupCosine"
    assert config["learning_rate"]["class_name"] == "WarmupCosine"
    restored = SSMAdamW.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored._ssm_learning_rate, WarmupCosine)

    floats = SSMAdamW(learning_rate=3e-3, ssm_learning_rate=2e-3, weight_decay=0.01, beta_2=0.98)
    floats.ssm_learning_rate = 5e-4  # settable, like `learning_rate`
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(floats))
    assert type(restored) is SSMAdamW
    assert restored.get_config() == floats.get_config()
    assert restored.get_config()["ssm_learning_rate"] == pytest.approx(5e-4)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="ssm_learning_rate"):
        SSMAdamW(ssm_learning_rate="fast")
    with pytest.raises(ValueError, match="warmup_steps"):
        build_optimizer(1e-3, 1e-3, 0.01, warmup_steps=10, total_steps=10)
    with pytest.raises(TypeError):
        schedule_optimizer().ssm_learning_rate = 1e-3


def test_saved_model_keeps_the_optimizer(tmp_path):
    keras.utils.set_random_seed(0)
    model, _ = make_model()
    x, y = batch()
    model.compile(optimizer=schedule_optimizer(), loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=2, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)

    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded.optimizer) is SSMAdamW
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(numpy(loaded.optimizer.iterations)) == 2
    assert [v.name for v in loaded.optimizer.ssm_variables] == [v.name for v in model.optimizer.ssm_variables]
    assert len(loaded.optimizer.ssm_variables) == 5
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(numpy(a), numpy(b))

    # Training goes on identically from the saved state.
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(loaded.trainable_variables, model.trainable_variables):
        np.testing.assert_allclose(numpy(a), numpy(b), rtol=1e-5, atol=1e-6)
