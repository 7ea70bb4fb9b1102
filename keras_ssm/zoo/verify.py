"""The checks a preset passes before anything is built from it: the
metadata schema, the sha256 of every file, safe file names and a config
whose classes all belong to Keras or keras_ssm."""

import hashlib
import json
import pathlib
import re

import keras

# Importing the models registers every keras_ssm class that a config may name.
import keras_ssm.models  # noqa: F401
from keras_ssm.zoo.errors import PresetError

METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"

# field: (type, what it must hold), in the order a message lists them.
REQUIRED_FIELDS = {
    "task": (str, "a non-empty string naming the task, e.g. 'audio-classification'"),
    "labels": (list, "a list of the class names (str), in output order"),
    "input": (dict, "a dict with at least 'shape' (list) and 'dtype' (str); audio adds 'sample_rate' (Hz)"),
    "metrics": (dict, "a dict of the metrics measured on the test split"),
    "evaluate": (str, "the command (str) that reproduces `metrics`"),
    "files": (dict, "a dict of file name -> sha256 hex digest of every other file of the preset"),
}

# The splits a decision in `choices` can be made on ("none": planned in advance, or the time ran out).
CHOICE_SPLITS = ("validation", "test", "none")

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Serialized values that are plain data, not classes (keras.saving's own markers).
_DATA_MARKERS = {"__tuple__", "__numpy__", "__tensor__", "__bytes__", "__typespec__"}


def sha256_file(path):
    """The sha256 hex digest of a file, read in 1 MiB chunks.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> sha256_file(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file_name(name, where="metadata.json"):
    """Refuses a file name from `files` that could lie outside the preset
    folder: it must be a relative POSIX path with no empty, `.` or `..`
    part, no backslash, colon or NUL. Returns the name.

    >>> check_file_name("plots/loss.png")
    'plots/loss.png'
    >>> check_file_name("../outside")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_ssm.zoo.PresetError: ...
    """
    parts = name.split("/") if isinstance(name, str) else []
    if (
        not parts
        or any(part in ("", ".", "..") for part in parts)
        or any(char in name for char in "\\:\x00")
    ):
        raise PresetError(
            f"{where} lists the file {name!r}, which could lie outside the preset folder: a "
            "preset's file names must be relative paths inside it (no '..', no absolute path, "
            "no backslash or drive). Do not use this preset; ask its publisher to re-save it "
            "with keras_ssm.zoo.save_preset."
        )
    if name == METADATA_FILE:
        raise PresetError(f"{where} lists {METADATA_FILE!r} under `files`: it cannot hash itself.")
    return name


def check_metadata(metadata, where="metadata.json", require_files=True):
    """Checks the metadata schema and returns `metadata`: every field of
    `REQUIRED_FIELDS` present with its type (`files` only if
    `require_files`), `input.shape` a list of positive ints or None,
    `input.dtype` a string, `input.sample_rate` (if any) a positive number,
    `files` safe names with sha256 digests, including the config and
    weights.

    >>> metadata = {"task": "audio-classification", "labels": ["no", "yes"],
    ...             "input": {"shape": [None, 1], "dtype": "float32"},
    ...             "metrics": {"accuracy": 0.9}, "evaluate": "python -m keras_ssm ..."}
    >>> check_metadata(metadata, require_files=False)["task"]
    'audio-classification'
    >>> check_metadata({**metadata, "labels": "no,yes"}, require_files=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_ssm.zoo.PresetError: metadata.json: field `labels` must be a list ...
    """
    if not isinstance(metadata, dict):
        raise PresetError(f"{where} must hold a JSON object (dict), got {type(metadata).__name__}.")
    for field, (kind, meaning) in REQUIRED_FIELDS.items():
        if field == "files" and not require_files:
            continue
        if field not in metadata:
            raise PresetError(f"{where}: the required field `{field}` is missing; it must be {meaning}.")
        value = metadata[field]
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise PresetError(
                f"{where}: field `{field}` must be {meaning}, got {type(value).__name__} {value!r:.80}."
            )

    def _bad(field, meaning, value):
        return PresetError(f"{where}: field `{field}` must be {meaning}, got {value!r:.80}.")

    labels = metadata["labels"]
    if not all(isinstance(label, str) for label in labels):
        raise _bad("labels", "a list of class names (str)", labels)
    if len(set(labels)) != len(labels):
        raise _bad("labels", "a list of distinct class names", labels)
    spec = metadata["input"]
    for key in ("shape", "dtype"):
        if key not in spec:
            raise PresetError(f"{where}: the required field `input.{key}` is missing.")
    shape = spec["shape"]
    if not isinstance(shape, list) or not all(
        dim is None or (isinstance(dim, int) and not isinstance(dim, bool) and dim > 0) for dim in shape
    ):
        raise _bad("input.shape", "a list of positive ints or None (null), without the batch axis", shape)
    if not isinstance(spec["dtype"], str) or not spec["dtype"]:
        raise _bad("input.dtype", "a dtype name such as 'float32' or 'int32'", spec["dtype"])
    if "sample_rate" in spec:
        rate = spec["sample_rate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise _bad("input.sample_rate", "a positive number of Hz", rate)
    if not all(isinstance(key, str) for key in metadata["metrics"]):
        raise _bad("metrics", "a dict with string keys", metadata["metrics"])
    if "choices" in metadata:  # optional: presets published before it existed have none
        check_choices(metadata["choices"], where)
    if require_files:
        files = metadata["files"]
        for name, digest in files.items():
            check_file_name(name, where)
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise _bad(f"files[{name!r}]", "a sha256 hex digest (64 lowercase hex digits)", digest)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if name not in files:
                raise PresetError(f"{where}: `files` must list {name!r} (with its sha256); it does not.")
    return metadata


def check_choices(choices, where="metadata.json"):
    """Checks a metadata `choices` list and returns it: every decision made
    in training and publishing (best epoch, stage kept, when to stop,
    augmentation, threshold, ...), each a dict with `decision` (str), the
    `split` it was made on (one of `CHOICE_SPLITS`; "test" when it came after
    a test figure was seen) and an optional `note` (str).

    >>> check_choices([{"decision": "best epoch of stage 1 (14 of 16)", "split": "validation"}])[0]["split"]
    'validation'
    >>> check_choices([{"decision": "stage 2", "split": "train"}])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_ssm.zoo.PresetError: metadata.json: field `choices[0].split` must be one of ...
    """
    if not isinstance(choices, list):
        raise PresetError(f"{where}: field `choices` must be a list of dicts (decision, split, note), "
                          f"got {type(choices).__name__}.")
    for i, choice in enumerate(choices):
        field = f"choices[{i}]"
        if not isinstance(choice, dict):
            raise PresetError(f"{where}: field `{field}` must be a dict with 'decision' and 'split', got {choice!r:.80}.")
        unknown = set(choice) - {"decision", "split", "note"}
        if unknown:
            raise PresetError(f"{where}: field `{field}` has unknown keys {sorted(unknown)}; it holds 'decision', "
                              "'split' and an optional 'note'.")
        if not isinstance(choice.get("decision"), str) or not choice["decision"].strip():
            raise PresetError(f"{where}: field `{field}.decision` must be a non-empty string saying what was "
                              f"decided, got {choice.get('decision')!r:.80}.")
        if choice.get("split") not in CHOICE_SPLITS:
            raise PresetError(f"{where}: field `{field}.split` must be one of {list(CHOICE_SPLITS)} (the split the "
                              f"decision was made on), got {choice.get('split')!r:.80}.")
        if "note" in choice and not isinstance(choice["note"], str):
            raise PresetError(f"{where}: field `{field}.note` must be a string, got {choice['note']!r:.80}.")
    return choices


def read_metadata(folder):
    """The checked metadata of the preset in `folder`."""
    path = pathlib.Path(folder) / METADATA_FILE
    where = str(path)
    try:
        with open(path, encoding="utf-8") as file:
            metadata = json.load(file)
    except FileNotFoundError:
        raise PresetError(f"The preset folder {folder} holds no {METADATA_FILE}.") from None
    except (OSError, ValueError) as error:
        raise PresetError(f"{where} is not readable JSON ({error}).") from None
    return check_metadata(metadata, where)


def check_files(folder, metadata):
    """Checks that every file listed in `metadata["files"]` lies inside
    `folder`, exists and has its sha256."""
    folder = pathlib.Path(folder)
    root = folder.resolve()
    for name, expected in metadata["files"].items():
        check_file_name(name)
        path = folder / name
        # resolve() follows symlinks: a link out of the folder is refused too.
        if not path.resolve().is_relative_to(root):
            raise PresetError(f"The preset file {name!r} in {folder} resolves outside the folder.")
        if not path.is_file():
            raise PresetError(
                f"The preset file {name!r} listed in {METADATA_FILE} is missing from {folder}."
            )
        actual = sha256_file(path)
        if actual != expected:
            raise PresetError(
                f"The preset file {path} is damaged or incomplete: its sha256 is {actual}, "
                f"but {METADATA_FILE} lists {expected}."
            )


def _named_class(config):
    name = config.get("registered_name") or config.get("class_name")
    module = config.get("module")
    return f"{name!r}" + (f" (module {module!r})" if module else "")


def _check_nested(value, where):
    if isinstance(value, list):
        for item in value:
            _check_nested(item, where)
        return
    if not isinstance(value, dict):
        return
    class_name = value.get("class_name")
    if isinstance(class_name, str) and "config" in value:
        module = value.get("module") or ""
        registered = value.get("registered_name")
        if class_name == "__lambda__":
            raise PresetError(f"{where} holds a lambda (Python bytecode); presets may not run code.")
        if class_name in _DATA_MARKERS:
            pass
        elif isinstance(registered, str) and ">" in registered:
            if not registered.startswith("keras_ssm>") or keras.saving.get_registered_object(registered) is None:
                raise PresetError(
                    f"{where} names the class {_named_class(value)}, which is neither a Keras nor a "
                    "registered keras_ssm class; a preset may only use those. Update keras-ssm if the "
                    "preset needs a newer version, otherwise do not use it."
                )
        elif not (module == "keras" or module.startswith("keras.")):
            raise PresetError(
                f"{where} names the class {_named_class(value)}, which is neither a Keras nor a "
                "keras_ssm class; a preset may only use those."
            )
    for item in value.values():
        _check_nested(item, where)


def check_config(config, where="config.json"):
    """Checks a serialized model config before it is deserialized and
    returns the class it builds: the top-level class must be a
    `keras.Model` registered with package `"keras_ssm"`, and every class
    named inside must be a Keras class or a registered keras_ssm one.

    >>> from keras_ssm.models import SSMBackbone
    >>> backbone = SSMBackbone("s4d", depth=1, width=8, input_dim=1,
    ...                        layer_kwargs={"state_dim": 4})
    >>> check_config(keras.saving.serialize_keras_object(backbone)).__name__
    'SSMBackbone'
    >>> check_config({"class_name": "Functional", "module": "keras.src.models.functional",
    ...               "registered_name": "Functional", "config": {}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_ssm.zoo.PresetError: config.json: the model class 'Functional' ...
    """
    if not isinstance(config, dict) or "config" not in config:
        raise PresetError(f"{where} does not hold a serialized Keras object (a dict with 'class_name' and 'config').")
    registered = config.get("registered_name")
    cls = keras.saving.get_registered_object(registered) if isinstance(registered, str) else None
    if not (
        isinstance(registered, str)
        and registered.startswith("keras_ssm>")
        and isinstance(cls, type)
        and issubclass(cls, keras.Model)
    ):
        raise PresetError(
            f"{where}: the model class {_named_class(config)} is not a keras_ssm model (one registered "
            "with package 'keras_ssm', such as 'keras_ssm>SSMClassifier'). A preset holds a keras_ssm "
            "model; update keras-ssm if the preset needs a newer version, otherwise do not use it."
        )
    _check_nested(config["config"], where)
    return cls
