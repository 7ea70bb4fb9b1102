"""Where presets are: the bundled ones, local folders, URLs and the cache."""

import difflib
import os
import pathlib

from keras_ssm.zoo.errors import PresetError
from keras_ssm.zoo.verify import METADATA_FILE

# The folder of the bundled presets; None finds it (see `bundled_root`).
# Tests and tools may point it elsewhere.
BUNDLED_ROOT = None

URL_SCHEMES = ("file://", "http://", "https://")

_PACKAGE = pathlib.Path(__file__).resolve().parents[1]


def bundled_root():
    """The folder that holds the bundled presets, or None if there is none.

    A wheel carries the repository's `zoo/` as `keras_ssm/presets/`; a
    source checkout (and so an editable install) reads `zoo/` next to the
    `keras_ssm` package in place.
    """
    if BUNDLED_ROOT is not None:
        return pathlib.Path(BUNDLED_ROOT)
    installed = _PACKAGE / "presets"
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent
    # pyproject.toml marks a source checkout, so that an unrelated `zoo/`
    # next to an installed package is never taken for ours.
    if (checkout / "pyproject.toml").is_file() and (checkout / "zoo").is_dir():
        return checkout / "zoo"
    return None


def list_presets():
    """The sorted names of the bundled presets (the folders of
    `bundled_root()` that hold a `metadata.json`).

    >>> from keras_ssm import zoo
    >>> names = zoo.list_presets()
    >>> names == sorted(names)
    True
    """
    root = bundled_root()
    if root is None or not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if not entry.name.startswith(".") and (entry / METADATA_FILE).is_file()
    )


def _unknown(name):
    names = list_presets()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    listed = ", ".join(names) if names else "none"
    return PresetError(
        f"Unknown preset {name!r}: it is neither a bundled preset nor a folder holding "
        f"{METADATA_FILE}.{hint} Bundled presets: {listed} (keras_ssm.zoo.list_presets()). A preset "
        "may also be given as a local folder or a file://, http:// or https:// URL of one."
    )


def locate(name_or_path):
    """The local folder of a preset (a `pathlib.Path`). Downloads a URL into
    the cache."""
    if isinstance(name_or_path, str) and name_or_path.startswith(URL_SCHEMES):
        from keras_ssm.zoo.download import download_preset

        return download_preset(name_or_path)
    if isinstance(name_or_path, str) and "://" in name_or_path:
        scheme = name_or_path.split("://", 1)[0]
        raise PresetError(
            f"Cannot load the preset {name_or_path!r}: the scheme {scheme}:// is not supported; "
            "give a bundled preset name, a local folder or a file://, http:// or https:// URL."
        )
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "A preset is a name, a folder path or a URL (str or os.PathLike), got "
            f"{type(name_or_path).__name__}."
        )
    if isinstance(name_or_path, str) and name_or_path in list_presets():
        return bundled_root() / name_or_path
    folder = pathlib.Path(name_or_path).expanduser()
    if folder.is_dir():
        if not (folder / METADATA_FILE).is_file():
            raise PresetError(
                f"The folder {folder} is not a preset: it holds no {METADATA_FILE}. Save one with "
                "keras_ssm.zoo.save_preset(model, folder, metadata)."
            )
        return folder.resolve()
    raise _unknown(os.fspath(name_or_path))


def how_to_repair(name_or_path, folder):
    """The sentence that ends an error about the preset `name_or_path`
    (located at `folder`): what its user can do, which depends on where the
    preset came from."""
    if isinstance(name_or_path, str) and name_or_path.startswith(URL_SCHEMES):
        return f"Delete the cache folder {folder} and load {name_or_path} again to download it anew."
    if isinstance(name_or_path, str) and name_or_path in list_presets():
        return (
            "This bundled preset is damaged: reinstall keras-ssm (in a source checkout, restore "
            f"zoo/{name_or_path} with git)."
        )
    return (
        f"Save the preset in {folder} again with keras_ssm.zoo.save_preset, or copy it again "
        "from where it came from."
    )


def preset_path(name_or_path):
    """The local folder of a preset: a bundled preset's folder, a local
    folder as given, or, for a `file://` / `http(s)://` URL, its copy in the
    cache (`$KERAS_SSM_HOME`, downloaded and verified the first time).

    Args:
        name_or_path: a bundled preset name (see `list_presets()`), a folder
            holding `metadata.json` (str or `os.PathLike`), or a URL of one.

    Returns:
        A `pathlib.Path`.

    >>> import tempfile
    >>> from keras_ssm import zoo
    >>> from keras_ssm.models import SSMBackbone
    >>> backbone = SSMBackbone("s4d", depth=1, width=8, input_dim=1,
    ...                        layer_kwargs={"state_dim": 4})
    >>> folder = zoo.save_preset(backbone, tempfile.mkdtemp() + "/tiny", {
    ...     "task": "features", "labels": [], "input": {"shape": [None, 1], "dtype": "float32"},
    ...     "metrics": {}, "evaluate": "none: an untrained example"})
    >>> zoo.preset_path(str(folder)) == folder
    True
    """
    return locate(name_or_path)
