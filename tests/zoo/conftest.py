import functools
import http.server
import json
import shutil
import threading

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.zoo import registry

METADATA = {
    "task": "audio-classification",
    "labels": ["down", "go", "up"],
    "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
    "metrics": {"test": {"accuracy": 0.5}},
    "evaluate": "python -m keras_ssm evaluate tiny  # an untrained test model",
}


def tiny_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = SSMBackbone("s4d", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4, "seed": seed})
    return SSMClassifier(backbone, num_classes=3)


def inputs():
    return np.random.default_rng(0).uniform(-1, 1, (2, 40, 1)).astype("float32")


def outputs(model, x=None):
    return keras.ops.convert_to_numpy(model(inputs() if x is None else x))


def rewrite_metadata(folder, **changes):
    """Edits a preset's metadata.json (None deletes a field), keeping the other fields."""
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            metadata.pop(key)
        else:
            metadata[key] = value
    path.write_text(json.dumps(metadata))
    return metadata


def rehash(folder, name):
    """Records the current sha256 of `name` in the metadata (a config edited on purpose)."""
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"][name] = zoo.verify.sha256_file(folder / name)
    (folder / "metadata.json").write_text(json.dumps(metadata))


def cache_leftovers(home):
    """Everything in the cache home: empty after a failed download."""
    return sorted(str(path.relative_to(home)) for path in home.rglob("*") if path.name != "presets")


@pytest.fixture(autouse=True)
def keras_ssm_home(tmp_path, monkeypatch):
    """A fresh cache per test: tests never touch ~/.keras."""
    home = tmp_path / "keras_ssm_home"
    monkeypatch.setenv("KERAS_SSM_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """A saved preset (with a model card) and the outputs of its model on `inputs()`."""
    model = tiny_classifier()
    folder = tmp_path_factory.mktemp("saved") / "tiny-s4d"
    folder.mkdir()
    (folder / "README.md").write_text("# tiny-s4d\nAn untrained test model.\n")
    zoo.save_preset(model, folder, METADATA)
    return folder, outputs(model), model


@pytest.fixture
def preset(saved, tmp_path):
    """A copy of the saved preset that a test may damage: `<tmp>/served/tiny-s4d`."""
    folder = tmp_path / "served" / "tiny-s4d"
    shutil.copytree(saved[0], folder)
    return folder


@pytest.fixture
def bundled(saved, tmp_path, monkeypatch):
    """A bundled zoo of two presets, a folder that is no preset and a hidden leftover."""
    root = tmp_path / "zoo"
    for name in ("tiny-s4d", "b-other", ".tiny-s4d.saving-x"):
        shutil.copytree(saved[0], root / name)
    (root / "notes").mkdir()
    monkeypatch.setattr(registry, "BUNDLED_ROOT", root)
    return root


@pytest.fixture
def no_build(monkeypatch):
    """Fails the test if a model is built (a refused preset must build nothing)."""

    def deserialize(*args, **kwargs):
        raise AssertionError("a model was built from a preset that should have been refused")

    monkeypatch.setattr(keras.saving, "deserialize_keras_object", deserialize)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server:
    """`directory` served on http://127.0.0.1:<port>/ by a thread."""

    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()


@pytest.fixture
def serve():
    """`serve(directory)` starts a `Server`; all are stopped at the end of the test."""
    servers = []

    def start(directory):
        servers.append(Server(directory))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
