"""Build hook: the wheel carries the bundled presets.

The presets live in the repository's top-level `zoo/` (outside the
package); a built wheel carries a copy of it as `keras_ssm/presets/`, where
`keras_ssm.zoo` finds it. An editable install reads `zoo/` in place and
copies nothing. Everything else is configured in pyproject.toml.
"""

import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ZOO = pathlib.Path(__file__).resolve().parent / "zoo"


def _ignored(directory, names):
    # Temporary folders of an interrupted save, caches, editor leftovers.
    return {name for name in names if name.startswith(".") or name == "__pycache__"}


class BuildPyWithPresets(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = pathlib.Path(self.build_lib) / "keras_ssm" / "presets"
        # A build folder reused from an earlier build must not keep removed presets.
        shutil.rmtree(target, ignore_errors=True)
        if ZOO.is_dir():
            shutil.copytree(ZOO, target, ignore=_ignored)


setup(cmdclass={"build_py": BuildPyWithPresets})
