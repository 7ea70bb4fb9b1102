import json
import os
import subprocess
import sys
import time

import keras
import pytest

from keras_ssm.training import recipe as recipes
from tests.training import tiny_listops


@pytest.fixture(scope="module")
def listops_dir(tmp_path_factory):
    return tiny_listops.write_listops(tmp_path_factory, 48, max_length=80)


def tiny_recipe(data_dir, **overrides):
    return tiny_listops.tiny_recipe(
        data_dir, "s4d", extra_data={"batch_size": 16}, extra_optimizer={"warmup_epochs": 1}, **overrides
    )


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "keras_ssm", *args], capture_output=True, text=True, env=env)


def test_cli_trains_and_evaluates(listops_dir, tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_recipe(listops_dir)))
    out = tmp_path / "run"
    run = run_cli("train", str(path), "--out", str(out), "--verbose", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and 1 <= summary["best_epoch"] <= 2
    # Training reports validation only: no test figure is printed or stored (issue #28).
    assert "test accuracy" not in run.stdout and "best validation accuracy" in run.stdout
    assert not [key for key in summary if "test" in key], summary
    assert (out / "best.keras").exists() and not (out / "backup").exists()
    run = run_cli("evaluate", str(path), "--model", str(out / "best.keras"), "--verbose", "0")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("validation:")  # the default split; the test split only when named
    accuracy = float(run.stdout.split("accuracy")[1].split(",")[0])
    assert accuracy == pytest.approx(summary["best_val_accuracy"], abs=1e-6)


class Interrupt(keras.callbacks.Callback):
    def __init__(self, pause=0.0):
        super().__init__()
        self.pause = pause

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.pause if batch == 0 else 0.0)  # a slow first epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


def test_an_interrupted_run_resumes_where_it_stopped(listops_dir, tmp_path):
    recipe = tiny_recipe(listops_dir, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        recipes.train(recipe, str(tmp_path), verbose=0, callbacks=[Interrupt(pause=4.0)])
    assert (tmp_path / "backup").exists()
    first = json.loads((tmp_path / "seconds.json").read_text())
    assert first["epochs"] == 1 and first["seconds"] >= 4.0
    second = Stopwatch()
    called = time.time()
    summary = recipes.train(recipe, str(tmp_path), verbose=0, callbacks=[second])
    returned = time.time()
    epochs = [line.split(",")[0] for line in (tmp_path / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1"]  # the second run did only the missing epoch
    assert summary["epochs"] == 2 and not (tmp_path / "backup").exists()
    # The wall time holds both runs: the first one's (slow) epoch and all of the second,
    # so more than the second alone.
    assert first["seconds"] + second.ended - second.began - 0.1 <= summary["seconds"]
    assert returned - called < summary["seconds"] <= first["seconds"] + returned - called + 0.1


class Stopwatch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.began = time.time()

    def on_train_end(self, logs=None):
        self.ended = time.time()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"epochs": "two"}, "epochs"),
        ({"optimiser": {}}, "optimiser"),
        ({"model": {"layer": "s4d", "depth": 1.5}}, "model.depth"),
        ({"model": {"layer": "lstm"}}, "model.layer"),
        ({"model": {"layer": "s4d", "width": 16, "colour": 1}}, "model.colour"),
        ({"optimizer": {"lr": True}}, "optimizer.lr"),
        ({"data": {"task": "listops", "path": "/no/such/folder"}}, "data.path"),
        ({"data": {"task": "listops", "path": ".", "batchsize": 3}}, "data.batchsize"),
        ({"data": {"task": "mnist", "path": "."}}, "data.task"),
    ],
)
def test_bad_recipes_name_the_field(change, field, listops_dir):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        recipes.parse_recipe(tiny_recipe(listops_dir, **change))


def test_cli_reports_a_bad_recipe(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"epochs": 1, "data": {"task": "listops", "path": "missing"}, "model": {"layer": "s5"}}))
    run = run_cli("train", str(path))
    assert run.returncode == 2 and "data.path" in run.stderr


def test_cli_tune_writes_a_best_recipe_that_trains(listops_dir, tmp_path):
    recipe = tiny_recipe(listops_dir, epochs=1, tune={"layer": ["s4d", "s5"], "lr": {"min": 1e-3, "max": 5e-3}})
    path = tmp_path / "tune.json"
    path.write_text(json.dumps(recipe))
    best_path = tmp_path / "best.json"
    run = run_cli("tune", str(path), "--max-trials", "2", "--out", str(best_path), "--verbose", "0")
    assert run.returncode == 0, run.stderr[-3000:]
    best = json.loads(best_path.read_text())
    assert "tune" not in best and best["model"]["layer"] in ("s4d", "s5")
    assert 1e-3 <= best["optimizer"]["lr"] <= 5e-3
    assert best["model"]["width"] == 16 and best["model"]["layer_kwargs"]["state_dim"] == 8
    summary = recipes.train(best, str(tmp_path / "run"), verbose=0)
    assert summary["epochs"] == 1


def test_tune_refuses_a_distribution(listops_dir, tmp_path):
    from keras_ssm.tuning import tune_recipe

    recipe = tiny_recipe(listops_dir, distribution={"type": "data_parallel"}, tune={"width": [8, 16]})
    with pytest.raises(ValueError, match="distribution"):
        tune_recipe(recipe, str(tmp_path / "best.json"), max_trials=1)
