"""Saving a model as a preset folder, atomically."""

import copy
import json
import os
import pathlib
import shutil
import tempfile

import keras

from keras_ssm.version import __version__
from keras_ssm.zoo.verify import (
    CONFIG_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    check_config,
    check_metadata,
    sha256_file,
)


def _json_default(value):
    # numpy scalars (a metric computed with numpy) are written as numbers.
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(value, file, indent=2, default=_json_default)
        file.write("\n")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_preset(model, folder, metadata):
    """Saves `model` as a preset in `folder` and returns the folder.

    Writes `config.json` (`keras.saving.serialize_keras_object(model)`),
    `model.weights.h5` and `metadata.json`: `metadata` plus `files` (the
    sha256 of every other file of the folder, config included), and, when
    absent, `parameters` (`model.count_params()`) and `versions` (keras,
    keras_ssm, backend). Files already in `folder` (a `README.md` model card,
    plots) are kept and hashed too.

    The preset is written into a temporary folder next to `folder` and
    renamed into place at the end, so a failure leaves `folder` as it was.

    Args:
        model: a keras_ssm model (`SSMClassifier`, `SSMBackbone`, ...).
        folder: the preset folder (str or `os.PathLike`); its parent must exist.
        metadata: a dict with at least `task` (str), `labels` (list of class
            names in output order), `input` (dict with `shape`, `dtype` and,
            for audio, `sample_rate`), `metrics` (dict), `evaluate` (the
            command that reproduces `metrics`). See
            `keras_ssm.zoo.verify.REQUIRED_FIELDS`.

    Returns:
        The folder, a `pathlib.Path`.

    Example:
    >>> import tempfile
    >>> from keras_ssm import zoo
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> folder = zoo.save_preset(model, tempfile.mkdtemp() + "/tiny", {
    ...     "task": "audio-classification", "labels": ["no", "yes"],
    ...     "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
    ...     "metrics": {"accuracy": 0.5}, "evaluate": "none: an untrained example"})
    >>> sorted(zoo.describe(folder)["files"])
    ['config.json', 'model.weights.h5']
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}.")
    metadata = copy.deepcopy(dict(metadata)) if isinstance(metadata, dict) else metadata
    check_metadata(metadata, where="`metadata`", require_files=False)
    num_classes = getattr(model, "num_classes", None)
    if isinstance(num_classes, int) and len(metadata["labels"]) != num_classes:
        raise ValueError(
            f"`metadata['labels']` must name the {num_classes} classes of the model in output order; "
            f"it has {len(metadata['labels'])}."
        )
    config = keras.saving.serialize_keras_object(model)
    # A preset carries no compile choices of the machine that saved it: its users'
    # `predict` and `fit` use their own backend's defaults (torch.compile is not one).
    config.pop("compile_config", None)
    check_config(config, where=f"The config of {type(model).__name__}")

    folder = pathlib.Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`folder` {folder} exists and is not a folder.")
    if not folder.parent.is_dir():
        raise ValueError(f"The parent folder of `folder` ({folder.parent}) does not exist.")
    own = {CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE}
    temp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.saving-", dir=folder.parent))
    # mkdtemp makes the folder private (0700); a preset is an ordinary folder.
    os.chmod(temp, 0o777 & ~_umask())
    try:
        if folder.is_dir():
            # The files this writes are replaced; the others (model card, plots) are kept.
            def ignore(directory, names):
                return own & set(names) if pathlib.Path(directory) == folder else set()

            shutil.copytree(folder, temp, dirs_exist_ok=True, ignore=ignore)
        _write_json(temp / CONFIG_FILE, config)
        model.save_weights(temp / WEIGHTS_FILE)
        metadata.setdefault("parameters", int(model.count_params()))
        metadata.setdefault(
            "versions",
            {"keras": keras.__version__, "keras_ssm": __version__, "backend": keras.backend.backend()},
        )
        metadata["files"] = {
            path.relative_to(temp).as_posix(): sha256_file(path)
            for path in sorted(temp.rglob("*"))
            if path.is_file() and path.relative_to(temp).as_posix() != METADATA_FILE
        }
        # The written metadata must load: names safe, digests well formed.
        check_metadata(json.loads(json.dumps(metadata, default=_json_default)), where="`metadata`")
        _write_json(temp / METADATA_FILE, metadata)

        if folder.exists():
            old = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(temp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return folder
