"""A built (non-editable) wheel carries the bundled presets and finds them."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from tests.zoo.conftest import METADATA, inputs

REPO = pathlib.Path(__file__).resolve().parents[2]
EXTRA = "zz-wheel-test"  # a preset added to the built copy, so the check means something while zoo/ is empty

CHECK = """
import json, os, sys
import numpy as np
import keras_ssm
from keras_ssm import zoo
names = zoo.list_presets()
model = zoo.load(sys.argv[1])
x = np.asarray(json.loads(sys.argv[2]), "float32")
print(json.dumps({
    "package": keras_ssm.__file__,
    "editable_finder": any("editable" in name for name in sys.modules),
    "path": [os.path.realpath(entry) for entry in sys.path],
    "names": names,
    "folders": [str(zoo.preset_path(name)) for name in names],
    "outputs": np.asarray(model(x)).tolist(),
}))
"""


def run(*command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the wheel test runs once, on the jax backend")
def test_installed_wheel_carries_the_bundled_presets(saved, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", *(p.name for p in REPO.glob("LICENSE*"))):
        shutil.copy(REPO / name, source)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "keras_ssm", source / "keras_ssm", ignore=ignore)
    if (REPO / "zoo").is_dir():
        shutil.copytree(REPO / "zoo", source / "zoo", ignore=ignore)
    (source / "zoo").mkdir(exist_ok=True)
    shutil.copytree(saved[0], source / "zoo" / EXTRA)
    repo_names = sorted(p.name for p in (REPO / "zoo").glob("*") if (p / "metadata.json").is_file())

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source))
    (wheel,) = (tmp_path / "dist").glob("keras_ssm-*.whl")
    target = tmp_path / "site"
    run(*pip, "install", "--no-deps", "--no-compile", "--target", str(target), str(wheel))

    # -S: no site-packages .pth, so neither the editable finder nor the checkout is on the path.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
        "KERAS_BACKEND": "jax",
        "KERAS_SSM_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "cwd").mkdir()
    x = inputs()
    report = json.loads(
        run(sys.executable, "-S", "-c", CHECK, EXTRA, json.dumps(x.tolist()), env=env, cwd=tmp_path / "cwd")
        .strip().splitlines()[-1]
    )
    assert pathlib.Path(report["package"]).is_relative_to(target)
    assert not report["editable_finder"]
    assert str(REPO) not in report["path"]
    assert report["names"] == sorted(repo_names + [EXTRA])
    for folder in report["folders"]:
        assert pathlib.Path(folder).is_relative_to(target / "keras_ssm" / "presets")
    np.testing.assert_allclose(np.asarray(report["outputs"]), saved[1], atol=1e-6)
    assert zoo.describe(saved[0])["files"] == zoo.describe(target / "keras_ssm" / "presets" / EXTRA)["files"]
