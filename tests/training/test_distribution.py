"""Distributed training with keras.distribution (keras_ssm.training.distribution).

In this process (every backend): the setting's checks, the layout map (built
on a mesh of device names, which touches no device), the refusal on
TensorFlow and PyTorch. In subprocesses, on the JAX pass only (they are JAX
whatever the pass, so once is enough): two virtual CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2`, which must be set
before JAX starts) for DataParallel / ModelParallel / checkpoints / the CLI,
and two local processes joined by `keras.distribution.initialize` for the
multi-process example.
"""

import importlib.util
import json
import os
import random
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ssm import cli
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.training import distribution as dist
from keras_ssm.training import recipe as recipes
from tests.training import tiny_listops

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = keras.backend.backend()
jax_pass = pytest.mark.skipif(
    BACKEND != "jax", reason="the multi-device checks run JAX subprocesses: once, on the JAX pass"
)


def mesh(model=2, batch=1):
    names = [f"cpu:{i}" for i in range(batch * model)]
    return keras.distribution.DeviceMesh((batch, model), ["batch", "model"], names)


def subprocess_env(devices):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "force_host_platform_device_count" not in f]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


# ---------------------------------------------------------------------------
# The setting (every backend)


@pytest.mark.parametrize(
    "setting, field",
    [
        ("data_parallel", "`distribution`"),
        ({"type": "data_parallel", "devices": 2}, "distribution.devices"),
        ({}, "distribution.type"),
        ({"type": "pipeline"}, "distribution.type"),
        ({"type": "data_parallel", "mesh": [2]}, "distribution.mesh"),
        ({"type": "model_parallel"}, "distribution.mesh"),
        ({"type": "model_parallel", "mesh": [2]}, "distribution.mesh"),
        ({"type": "model_parallel", "mesh": [0, 2]}, "distribution.mesh"),
        ({"type": "model_parallel", "mesh": [1, True]}, "distribution.mesh"),
        ({"type": "model_parallel", "mesh": "1,2"}, "distribution.mesh"),
    ],
)
def test_bad_settings_name_the_field(setting, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        dist.check_setting(setting)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        dist.make_distribution(setting)


@pytest.fixture(scope="module")
def listops_dir(tmp_path_factory):
    return tiny_listops.write_listops(tmp_path_factory, 32, max_length=60)


def tiny_recipe(data_dir, **overrides):
    data = {"batch_size": 8, "bucket": False, "max_length": 64, "drop_remainder": True}
    overrides.setdefault("distribution", {"type": "data_parallel"})
    return tiny_listops.tiny_recipe(data_dir, "s5", extra_data=data, **overrides)


def test_recipes_check_the_distribution_section(listops_dir):
    assert recipes.parse_recipe(tiny_recipe(listops_dir))["distribution"] == {"type": "data_parallel"}
    parsed = recipes.parse_recipe(tiny_recipe(listops_dir, distribution={"type": "model_parallel", "mesh": [1, 2]}))
    assert parsed["distribution"] == {"type": "model_parallel", "mesh": [1, 2]}
    plain = tiny_recipe(listops_dir)
    del plain["distribution"]
    assert recipes.parse_recipe(plain)["distribution"] is None
    # A parsed recipe (what `train` writes to recipe.json) parses again.
    assert recipes.parse_recipe(json.loads(json.dumps(recipes.parse_recipe(plain)))) == recipes.parse_recipe(plain)
    with pytest.raises(ValueError, match=r"distribution\.mesh"):
        recipes.parse_recipe(tiny_recipe(listops_dir, distribution={"type": "model_parallel", "mesh": [1, 2, 1]}))


@pytest.mark.skipif(BACKEND == "jax", reason="the refusal of the other backends")
def test_tensorflow_and_torch_refuse_with_what_they_support(listops_dir, tmp_path, capsys):
    with pytest.raises(ValueError) as error:
        dist.make_distribution({"type": "data_parallel"})
    message = str(error.value)
    for words in ("`distribution`", f"{BACKEND} backend", "KERAS_BACKEND=jax", "MirroredStrategy", "DistributedDataParallel"):
        assert words in message
    # The recipe refuses before it writes anything; the CLI says why and exits 2.
    with pytest.raises(ValueError, match="`distribution`"):
        recipes.train(tiny_recipe(listops_dir), str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(tiny_recipe(listops_dir)))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", str(path), "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert "MirroredStrategy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(path), "--model", str(path), "--distribution", "model_parallel", "--mesh", "1,2"])
    assert "`distribution`" in capsys.readouterr().err


def test_cli_distribution_flags(listops_dir, tmp_path, capsys):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(tiny_recipe(listops_dir)))
    model_path = tmp_path / "model.keras"
    backbone = SSMBackbone("s5", depth=1, width=8, vocab_size=18, layer_kwargs={"state_dim": 4}, norm="layer")
    model = SSMClassifier(backbone, num_classes=10)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.optimizer.build(model.trainable_variables)
    model.save(str(model_path))
    evaluate = ["evaluate", str(path), "--model", str(model_path), "--verbose", "0"]
    for flags, message in [
        (["--mesh", "1,2"], "--mesh BATCH,MODEL goes with --distribution model_parallel"),
        (["--distribution", "model_parallel"], "needs --mesh"),
        (["--distribution", "model_parallel", "--mesh", "one,two"], "--mesh must be two integers"),
        (["--distribution", "model_parallel", "--mesh", "1,2,1"], "`distribution.mesh`"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(evaluate + flags)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    # `--distribution none` runs a recipe that names a distribution on one device, on any backend.
    assert cli.main(evaluate + ["--distribution", "none"]) == 0
    assert "validation: accuracy" in capsys.readouterr().out


@pytest.mark.skipif(BACKEND != "jax", reason="JAX with one device")
def test_one_device_is_refused_not_silently_used(listops_dir):
    if len(keras.distribution.list_devices()) != 1:
        pytest.skip("this process sees several devices")
    with pytest.raises(ValueError, match="data_parallel needs at least 2 devices"):
        recipes.train(tiny_recipe(listops_dir), "unused", verbose=0)
    with pytest.raises(ValueError, match=r"`distribution\.mesh` \[1, 2\] needs 2 devices"):
        dist.make_distribution({"type": "model_parallel", "mesh": [1, 2]}, model={"layer": "s5", "width": 8})


# ---------------------------------------------------------------------------
# The layout map (every backend: a mesh of device names touches no device)


def axes(layouts, path):
    layout = layouts[path]
    return None if layout is None else layout.axes


def test_layout_map_shards_b_c_and_the_mlp_and_replicates_the_rest():
    s5 = dist.layout_map(
        {"layer": "s5", "width": 8, "layer_kwargs": {"state_dim": 8, "bidirectional": True}, "activation": "glu"},
        mesh(),
    )
    for path in ("block_0/s5_layer/B_re", "block_11/s5_layer_3/B_im"):
        assert axes(s5, path) == ("model", None)  # (P', H): the modes
    for name in ("C_re", "C_im", "C_backward_re", "C_backward_im"):
        assert axes(s5, f"ssm_classifier/block_1/s5_layer_7/{name}") == (None, "model")  # (H, P')
    for name in ("gate_kernel", "value_kernel"):
        assert axes(s5, f"block_2/{name}") == (None, "model")
    assert axes(s5, "block_2/gate_bias") == ("model",)
    for path in ("block_0/s5_layer/lambda_re", "block_0/s5_layer/lambda_im", "block_0/s5_layer/log_step",
                 "block_0/s5_layer/D", "block_0/norm/gamma", "encoder/kernel", "logits/kernel",
                 "block_0/s5_layer/output", "block_0/output"):
        assert s5[path] is None, path  # replicated (and no relayout of outputs)

    s4d = dist.layout_map({"layer": "s4d", "width": 8, "layer_kwargs": {"state_dim": 8}}, mesh())
    for name in ("a_real", "a_imag", "B_re", "B_im", "C_re", "C_im"):
        assert axes(s4d, f"block_0/s4d_layer/{name}") == ("model", None)  # (H, N/2): the features
    assert s4d["block_0/s4d_layer/log_dt"] is None and s4d["block_0/s4d_layer/D"] is None

    dss = dist.layout_map({"layer": "dss", "width": 8, "layer_kwargs": {"state_dim": 8}}, mesh())
    assert axes(dss, "block_0/dss_layer/W_re") == ("model", None)
    for name in ("lambda_re", "lambda_im", "log_dt", "D"):
        assert dss[f"block_0/dss_layer/{name}"] is None


def test_layout_map_falls_back_to_an_axis_that_divides_or_to_replication():
    # S5 with P' = 3 modes on a model axis of 2: B and C split along H instead.
    s5 = dist.layout_map({"layer": "s5", "width": 8, "layer_kwargs": {"state_dim": 6, "blocks": 1}}, mesh(2))
    assert axes(s5, "block_0/s5_layer/B_re") == (None, "model")
    assert axes(s5, "block_0/s5_layer/C_re") == ("model", None)
    # S4D with H = 6 on a model axis of 4: the 4 modes; the 6x6 MLP stays whole.
    s4d = dist.layout_map({"layer": "s4d", "width": 6, "layer_kwargs": {"state_dim": 8}}, mesh(4))
    assert axes(s4d, "block_0/s4d_layer/B_re") == (None, "model")
    assert s4d["block_0/gate_kernel"] is None
    # Nothing divides 3: everything replicated.
    assert len(dist.layout_map({"layer": "dss", "width": 8, "layer_kwargs": {"state_dim": 8}}, mesh(3))) == 0


def test_layout_map_of_a_model_matches_its_variable_paths():
    backbone = SSMBackbone("s5", depth=2, width=8, input_dim=2, layer_kwargs={"state_dim": 8}, activation="half_glu2")
    model = SSMClassifier(backbone, num_classes=3)
    layouts = dist.layout_map(model, mesh())
    sharded = {v.path for v in model.weights if layouts[v.path] is not None}
    names = {path.rsplit("/", 1)[1] for path in sharded}
    assert names == {"B_re", "B_im", "C_re", "C_im", "gate_kernel", "gate_bias"}
    assert len(sharded) == 2 * len(names)  # both blocks
    assert layouts.keys() == dist.layout_map(backbone.get_config(), mesh()).keys()


def test_layout_map_from_a_config_leaves_random_state_and_names_alone():
    before = keras.layers.Dense(1).name
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    dist.layout_map({"layer": "s5", "width": 8, "layer_kwargs": {"state_dim": 8}}, mesh())
    assert random.getstate() == python_state and np.array_equal(np.random.get_state()[1], numpy_state)
    after = keras.layers.Dense(1).name
    index = lambda name: int(name.rsplit("_", 1)[1]) if name[-1].isdigit() else 0  # noqa: E731
    assert index(after) == index(before) + 1
    assert keras.distribution.distribution() is None


def test_layout_map_keys_are_full_matches():
    # What the research note's "dense.*kernel" ran into: LayoutMap matches its
    # keys with re.fullmatch against the whole `variable.path`.
    layouts = keras.distribution.LayoutMap(mesh())
    layouts["dense.*kernel"] = (None, "model")
    assert layouts["sequential/dense/kernel"] is None and layouts["dense/kernel"] is not None


# ---------------------------------------------------------------------------
# Two virtual CPU devices (JAX subprocess)

CHECKS = r'''
import json, os, sys
import numpy as np
import keras
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.training import build_optimizer
from keras_ssm.training import recipe as recipes
from keras_ssm.training.distribution import make_distribution

out_dir = sys.argv[1]
report = {"devices": keras.distribution.list_devices()}
rng = np.random.default_rng(0)
x = rng.standard_normal((16, 24, 2)).astype("float32")
y = (x[:, :, 0].sum(1) > 0).astype("int32")
S5 = {"layer": "s5", "width": 8, "layer_kwargs": {"state_dim": 8, "bidirectional": True}, "activation": "glu"}
S4D = {"layer": "s4d", "width": 8, "layer_kwargs": {"state_dim": 8}, "activation": "half_glu1"}
DSS = {"layer": "dss", "width": 8, "layer_kwargs": {"state_dim": 8}, "activation": "half_glu2"}
MESH = {"type": "model_parallel", "mesh": [1, 2]}

def build(config=S5):
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone(config["layer"], depth=1, width=8, input_dim=2, norm="batch",
                           layer_kwargs=config["layer_kwargs"], activation=config["activation"])
    return SSMClassifier(backbone, num_classes=2)

def compile_(model):
    model.compile(optimizer=build_optimizer(1e-2, 5e-3, 0.01, warmup_steps=0, total_steps=100),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

def diff(a, b):
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b))

def predict(model):
    return model.predict(x, batch_size=8, verbose=0)

def spec(v):
    s = list(v.value.sharding.spec)
    return [None if a is None else str(a) for a in s + [None] * (len(v.shape) - len(s))]

def layouts(model):
    return {v.path: {"spec": spec(v), "shape": list(v.shape), "shard": list(v.value.addressable_shards[0].data.shape),
                     "devices": len(v.value.sharding.device_set)} for v in model.weights}

# DataParallel: one step against the same step on one device, same global batch.
single = build()
init = single.get_weights()
compile_(single)
single.train_on_batch(x[:8], y[:8])
dp = make_distribution({"type": "data_parallel"})
with dp.scope():
    parallel = build()
    report["dp_init_diff"] = diff(parallel.get_weights(), init)
    parallel.set_weights(init)
    compile_(parallel)
    parallel.train_on_batch(x[:8], y[:8])
    report["dp_step_diff"] = diff(parallel.get_weights(), single.get_weights())
    report["dp_step_change"] = diff(single.get_weights(), init)
    report["dp_layouts"] = layouts(parallel)
    report["dp_batch_layout"] = list(dp.get_data_layout((8, 24, 2)).axes)
    report["dp_losses"] = parallel.fit(x, y, batch_size=8, epochs=6, verbose=0, shuffle=False).history["loss"]
    dp_predictions = predict(parallel)
    parallel.save(os.path.join(out_dir, "dp.keras"))
loaded = keras.saving.load_model(os.path.join(out_dir, "dp.keras"))
report["dp_to_single_devices"] = sorted({len(v.value.sharding.device_set) for v in loaded.weights})
report["dp_to_single_predict_diff"] = diff([predict(loaded)], [dp_predictions])

# ModelParallel on a (1, 2) mesh: shardings, predictions, fit.
report["mp"] = {}
for config in (S5, S4D, DSS):
    entry = report["mp"][config["layer"]] = {}
    reference = build(config)
    expected = predict(reference)  # outside the scope: a model on one device runs without distribution
    mp = make_distribution(MESH, model=config)
    with mp.scope():
        sharded = build(config)
        sharded.set_weights(reference.get_weights())
        entry["layouts"] = layouts(sharded)
        entry["predict_diff"] = diff([predict(sharded)], [expected])
        if config is S5:
            s5_reference, s5_expected = reference, expected
            compile_(sharded)
            entry["losses"] = sharded.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False).history["loss"]
            entry["specs_after_fit"] = {v.path: spec(v) for v in sharded.weights}
            entry["optimizer_specs"] = {v.path: spec(v) for v in sharded.optimizer.variables if len(v.shape) == 2}
            mp_predictions = predict(sharded)
            sharded.save(os.path.join(out_dir, "mp.keras"))

# Checkpoints across layouts: sharded -> one device; one device -> sharded.
loaded = keras.saving.load_model(os.path.join(out_dir, "mp.keras"))
report["mp_to_single_predict_diff"] = diff([predict(loaded)], [mp_predictions])
s5_reference.save(os.path.join(out_dir, "single.keras"))
with make_distribution(MESH, model=S5).scope():
    resharded = keras.saving.load_model(os.path.join(out_dir, "single.keras"))
    report["single_to_mp_layouts"] = layouts(resharded)
    report["single_to_mp_predict_diff"] = diff([predict(resharded)], [s5_expected])

# The recipe's checks that need two devices.
recipe = {"epochs": 1, "data": {"task": "listops", "path": out_dir, "batch_size": 8, "drop_remainder": True},
          "model": {"layer": "s5", "width": 8}, "distribution": {"type": "data_parallel"}}
errors = {}
for name, change in {"ok": {}, "odd_batch": {"batch_size": 7}, "remainder": {"drop_remainder": False},
                     "mesh": "mesh"}.items():
    candidate = json.loads(json.dumps(recipe))
    if change == "mesh":
        candidate["distribution"] = {"type": "model_parallel", "mesh": [2, 2]}
    else:
        candidate["data"].update(change)
    try:
        errors[name] = type(recipes.make_distribution(recipes.parse_recipe(candidate))).__name__
    except ValueError as error:
        errors[name] = str(error)
report["recipe_errors"] = errors

# The command line (its `main`, in this two-device process): train the recipe
# (data_parallel), then evaluate its best checkpoint under model_parallel.
import contextlib, io
from keras_ssm import cli
recipe_path, run_dir = sys.argv[2], os.path.join(out_dir, "run")
for name, argv in {
    "train": ["train", recipe_path, "--out", run_dir, "--verbose", "0"],
    "evaluate": ["evaluate", recipe_path, "--model", os.path.join(run_dir, "best.keras"), "--verbose", "0",
                 "--distribution", "model_parallel", "--mesh", "1,2"],
}.items():
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(argv)
    report["cli_" + name] = {"code": code, "stdout": stdout.getvalue()}
with open(os.path.join(run_dir, "summary.json")) as f:
    report["cli_summary"] = json.load(f)
with open(os.path.join(run_dir, "recipe.json")) as f:
    report["cli_recipe"] = json.load(f)

# A pretrain stage under data_parallel: the pretrainer runs in the same scope.
with open(recipe_path) as f:
    pretraining = json.load(f)
pretraining["model"]["layer_kwargs"]["bidirectional"] = True
pretraining["pretrain"] = {"epochs": 1}
summary = recipes.train(pretraining, os.path.join(out_dir, "pretrained"), verbose=0)
backbone = SSMBackbone.from_preset(os.path.join(out_dir, "pretrained", recipes.PRETRAINED_BACKBONE))
report["pretrain"] = {"summary": summary, "devices": sorted({len(v.value.sharding.device_set)
                                                               for v in backbone.weights})}
print("REPORT " + json.dumps(report))
'''


def run_report(script, args, devices=2, timeout=240):
    run = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO, env=subprocess_env(devices), capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("REPORT ")]
    assert run.returncode == 0 and lines, run.stderr[-4000:]
    return json.loads(lines[-1][len("REPORT "):])


@pytest.fixture(scope="module")
def report(tmp_path_factory, listops_dir):
    if BACKEND != "jax":
        pytest.skip("the multi-device checks run JAX subprocesses: once, on the JAX pass")
    folder = tmp_path_factory.mktemp("checks")
    recipe_path = folder / "recipe.json"
    recipe_path.write_text(json.dumps(tiny_recipe(listops_dir)))
    return run_report(CHECKS, [str(folder), str(recipe_path)])


@jax_pass
def test_data_parallel_step_equals_the_one_device_step(report):
    assert report["devices"] == ["cpu:0", "cpu:1"]
    assert report["dp_init_diff"] == 0.0  # the same seed gives the same weights under the distribution
    assert report["dp_step_change"] > 1e-3  # the step moved the weights ...
    assert report["dp_step_diff"] < 1e-5  # ... as on one device, up to round-off


@jax_pass
def test_data_parallel_fit_replicates_the_variables_and_the_loss_falls(report):
    assert all(v["spec"] == [None] * len(v["shape"]) and v["devices"] == 2 for v in report["dp_layouts"].values())
    assert report["dp_batch_layout"] == ["batch", None, None]
    losses = report["dp_losses"]
    assert all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0], losses


SHARDED = {
    "s5": {"B_re": ["model", None], "B_im": ["model", None], "C_re": [None, "model"], "C_im": [None, "model"],
           "C_backward_re": [None, "model"], "C_backward_im": [None, "model"]},
    "s4d": {name: ["model", None] for name in ("a_real", "a_imag", "B_re", "B_im", "C_re", "C_im")},
    "dss": {"W_re": ["model", None], "W_im": ["model", None]},
}
MLP = {"s5": ("gate", "value"), "s4d": ("gate",), "dss": ("gate",)}


@jax_pass
@pytest.mark.parametrize("layer", ["s5", "s4d", "dss"])
def test_model_parallel_shards_the_intended_variables(report, layer):
    expected = dict(SHARDED[layer])
    for name in MLP[layer]:
        expected.update({f"{name}_kernel": [None, "model"], f"{name}_bias": ["model"]})
    found = {}
    for path, v in report["mp"][layer]["layouts"].items():
        name = path.rsplit("/", 1)[1]
        assert v["devices"] == 2
        if any(v["spec"]):
            found.setdefault(name, v["spec"])
            assert v["spec"] == expected[name], path
            split = v["spec"].index("model")
            assert v["shard"][split] * 2 == v["shape"][split], path  # each device holds half
        else:
            assert v["shard"] == v["shape"], path  # replicated: Λ, Δ, D, norms, encoder, head
    assert found == expected


@jax_pass
def test_model_parallel_predicts_like_the_unsharded_model_and_fits(report):
    for layer in ("s5", "s4d", "dss"):
        assert report["mp"][layer]["predict_diff"] < 1e-5, layer
    s5 = report["mp"]["s5"]
    assert all(np.isfinite(s5["losses"])) and s5["losses"][-1] < s5["losses"][0]
    assert s5["specs_after_fit"] == {path: v["spec"] for path, v in s5["layouts"].items()}
    # Adam's moments take the layout of their variable.
    moments = s5["optimizer_specs"]
    assert any("B_re_momentum" in p and s == ["model", None] for p, s in moments.items())
    assert any("gate_kernel_velocity" in p and s == [None, "model"] for p, s in moments.items())


@jax_pass
def test_checkpoints_load_across_layouts(report):
    # Saved under DataParallel, loaded with no distribution: one device, same predictions.
    assert report["dp_to_single_devices"] == [1]
    assert report["dp_to_single_predict_diff"] < 1e-6
    # Saved sharded, loaded on one device; saved on one device, loaded sharded.
    assert report["mp_to_single_predict_diff"] < 1e-6
    assert report["single_to_mp_predict_diff"] < 1e-5
    resharded = report["single_to_mp_layouts"]
    assert any(p.endswith("/B_re") and v["spec"] == ["model", None] for p, v in resharded.items())


@jax_pass
def test_recipe_checks_the_devices_and_the_batches(report):
    errors = report["recipe_errors"]
    assert errors["ok"] == "DataParallel"
    assert "`data.batch_size` (7) must be a multiple of the 2 data-parallel replicas" in errors["odd_batch"]
    assert "`data.drop_remainder` must be true" in errors["remainder"]
    assert "`distribution.mesh` [2, 2] needs 4 devices (batch * model); JAX sees 2" in errors["mesh"]


@jax_pass
def test_cli_trains_data_parallel_and_evaluates_model_parallel(report):
    train, evaluate = report["cli_train"], report["cli_evaluate"]
    assert train["code"] == 0 and "trained on data_parallel over 2 devices" in train["stdout"]
    summary = report["cli_summary"]
    assert summary["distribution"] == "data_parallel over 2 devices (mesh batch=2)" and summary["epochs"] == 2
    assert report["cli_recipe"]["distribution"] == {"type": "data_parallel"}
    # The data_parallel checkpoint, evaluated under the --distribution/--mesh override.
    assert evaluate["code"] == 0
    accuracy = float(evaluate["stdout"].split("accuracy")[1].split(",")[0])
    assert accuracy == pytest.approx(summary["best_val_accuracy"], abs=1e-6)  # the default split: validation


@jax_pass
def test_a_pretrain_stage_trains_data_parallel(report):
    summary = report["pretrain"]["summary"]
    assert summary["distribution"] == "data_parallel over 2 devices (mesh batch=2)"
    assert summary["pretrain"]["objective"] == "masked" and np.isfinite(summary["pretrain"]["final_loss"])
    assert report["pretrain"]["devices"] == [1]  # the saved backbone preset loads on one device


# ---------------------------------------------------------------------------
# Two processes on 127.0.0.1 (examples/distributed.py)

EXAMPLE = os.path.join(REPO, "examples", "distributed.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@jax_pass
def test_two_processes_train_like_one_device(tmp_path, capsys):
    port = free_port()
    out = tmp_path / "run"
    processes = [
        subprocess.Popen(
            [sys.executable, EXAMPLE, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
             "--process-id", str(i), "--out", str(out)],
            cwd=REPO, env=subprocess_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=180) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, (stdout, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-4000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [r["process_id"] for r in results] == [0, 1]
    assert all(r["num_processes"] == 2 and len(r["devices"]) == 2 and len(r["local_devices"]) == 1 for r in results)
    assert results[0]["losses"] == results[1]["losses"]  # one program, one loss
    # The reference: the same script on this one-device process, no distribution.
    spec = importlib.util.spec_from_file_location("distributed_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    capsys.readouterr()
    example.main(["--num-processes", "1", "--out", str(tmp_path / "single")])
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert single["distribution"] == "one device (no distribution)"
    np.testing.assert_allclose(results[0]["losses"], single["losses"], rtol=1e-5)
    assert single["losses"][-1] < single["losses"][0]
    # Process 0's checkpoint loads on one device and predicts like the one-device model.
    x = np.random.default_rng(1).standard_normal((4, 32, 1)).astype("float32")
    two = keras.saving.load_model(str(out / "model.keras"))
    one = keras.saving.load_model(str(tmp_path / "single" / "model.keras"))
    np.testing.assert_allclose(two.predict(x, verbose=0), one.predict(x, verbose=0), atol=1e-5)
