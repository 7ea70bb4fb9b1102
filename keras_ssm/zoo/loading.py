"""Loading a preset: verified first, built second."""

import json
import numbers

import keras

from keras_ssm.models.backbone import SSMBackbone
from keras_ssm.models.preprocessor import SSMPreprocessor
from keras_ssm.models.preset_loader import register_preset_loader
from keras_ssm.models.rate import step_scale_for_rate
from keras_ssm.models.task import SSMTask
from keras_ssm.zoo.errors import PresetError, repair_hint
from keras_ssm.zoo.registry import how_to_repair, locate
from keras_ssm.zoo.verify import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, check_config, check_files, read_metadata


def describe(name_or_path):
    """The metadata of a preset (its `metadata.json`, schema checked): task,
    labels, input spec, test metrics, the command that reproduces them,
    the files' sha256, parameter count and versions.

    Args:
        name_or_path: a bundled preset name, a preset folder or a URL of
            one (see `preset_path`).

    >>> from keras_ssm import zoo
    >>> for name in zoo.list_presets():
    ...     assert {"task", "labels", "input", "metrics"} <= set(zoo.describe(name))
    """
    folder = locate(name_or_path)
    with repair_hint(how_to_repair(name_or_path, folder)):
        return read_metadata(folder)


def _verified_config(name_or_path):
    """The preset's folder, metadata, checked config and class, and the
    sentence that ends its errors; every file's sha256 is checked first."""
    folder = locate(name_or_path)
    hint = how_to_repair(name_or_path, folder)
    with repair_hint(hint):
        metadata = read_metadata(folder)
        check_files(folder, metadata)
        path = folder / CONFIG_FILE
        try:
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
        except ValueError as error:
            raise PresetError(f"{path} is not readable JSON ({error}).") from None
        cls = check_config(config, where=str(path))
    return folder, metadata, config, cls, hint


def _preprocessor_spec(metadata, folder):
    """The serialized preprocessor of `metadata["input"]["preprocessor"]`
    (None if there is none), checked to name a keras_ssm preprocessor class."""
    spec = metadata["input"].get("preprocessor")
    if spec is None:
        return None
    registered = spec.get("registered_name") if isinstance(spec, dict) else None
    ours = isinstance(registered, str) and registered.startswith("keras_ssm>")
    cls = keras.saving.get_registered_object(registered) if ours else None
    if not (isinstance(cls, type) and issubclass(cls, SSMPreprocessor) and isinstance(spec.get("config"), dict)):
        raise PresetError(
            f"{folder / METADATA_FILE}: `input.preprocessor` must be a serialized keras_ssm preprocessor "
            f"(e.g. registered_name 'keras_ssm>ByteTokenizer' and its config), got {spec!r}."
        )
    return spec


def _build(folder, metadata, config, stored, hint, sample_rate=None, compile=False):
    # Arguments are checked before anything is built.
    if compile and not issubclass(stored, SSMTask):
        raise ValueError(
            f"`compile=True` compiles a classifier for `evaluate`; the preset in {folder} holds "
            f"a {stored.__name__}."
        )
    with repair_hint(hint):
        preprocessor = _preprocessor_spec(metadata, folder)
    if preprocessor is not None and issubclass(stored, SSMTask):
        # The task carries the text-to-ids mapping of its training data (keras-hub's `Task.preprocessor`).
        config = dict(config, config=dict(config["config"], preprocessor=preprocessor))
    if sample_rate is not None:
        trained_rate = metadata["input"].get("sample_rate")
        if trained_rate is None:
            raise ValueError(
                f"`sample_rate={sample_rate!r}` re-targets an audio preset, but the preset in {folder} "
                "states no `input.sample_rate` in its metadata: load it without `sample_rate`."
            )
        # The config is re-targeted before building, by the class the preset holds.
        step_scale = step_scale_for_rate(trained_rate, sample_rate)
        config = dict(config, config=stored.retarget_config(config["config"], step_scale))
    # A preset folder saved elsewhere may still hold its publisher's compile choices
    # (`jit_compile`, optimizer); `compile` alone decides whether the model is compiled.
    config = {key: value for key, value in config.items() if key != "compile_config"}
    if keras.backend.backend() == "torch":
        # torch initialises in microseconds, and a layer's torch parameters are
        # registered when its variables are made: deferring them would leave
        # them out of the module (exporters then trace them as constants).
        model = _deserialize(config, folder, metadata)
        with repair_hint(hint):
            _load_weights(model, folder)
        if compile:
            _compile(model)
        return model
    # Built with its variables deferred and given the preset's weights as
    # their initial values: initialising them first would draw (and on JAX
    # compile, one XLA program per weight shape: seconds) random values that
    # the weights overwrite at once. Leaving the outer scope initialises them.
    with keras.StatelessScope():
        model = _deserialize(config, folder, metadata)
        with keras.StatelessScope() as loaded, repair_hint(hint):  # records the assignments
            _load_weights(model, folder)
        to_assign = _initialise_with_loaded_values(model, loaded)
    for variable, value in to_assign:
        variable.assign(value)
    if compile:
        _compile(model)
    return model


def _deserialize(config, folder, metadata):
    try:
        return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:
        raise PresetError(
            f"Could not build the model of {folder / CONFIG_FILE}: {error}. The preset may need "
            f"another keras-ssm version (it was saved with {metadata.get('versions', 'unknown versions')})."
        ) from error


def _load_weights(model, folder):
    try:
        model.load_weights(folder / WEIGHTS_FILE)
    except Exception as error:
        raise PresetError(
            f"The weights {folder / WEIGHTS_FILE} do not fit the model of {CONFIG_FILE}: {error}."
        ) from error


def _initialise_with_loaded_values(model, scope):
    """Makes each deferred variable of `model` start from the value `scope`
    recorded for it (the preset's weights) instead of its initializer;
    returns `(variable, value)` for the variables that were not deferred,
    to be assigned once out of the stateless scope."""
    to_assign = []
    for variable in model.variables:
        value = scope.get_current_value(variable)
        if value is None:
            continue  # not in the weights file (a seed state): its initializer stands
        if getattr(variable, "_value", None) is None:  # deferred: initialised on leaving the scope
            variable._initializer = lambda shape, dtype, value=value: value
        else:
            to_assign.append((variable, value))
    return to_assign


def _compile(model):
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def _check_num_classes(num_classes, folder, config, stored):
    """Checks `from_preset`'s `num_classes` before anything is built."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer (the classes of the new head), got {num_classes!r}.")
    if not (issubclass(stored, SSMTask) and "num_classes" in config.get("config", {})):
        raise ValueError(
            f"`num_classes={num_classes!r}` puts a new head on a preset's backbone, but the preset in {folder} "
            f"holds a {stored.__name__}, which has no classification head: load it without `num_classes`."
        )


def _with_new_head(model, num_classes):
    """The task model around `model`'s (pretrained) backbone, with its own
    head settings (pooling, hidden width) but `num_classes` outputs from a
    freshly initialised head (keras-hub's `from_preset(..., num_classes=K)`)."""
    task_config = dict(model._task_config(), num_classes=int(num_classes))
    return type(model)(model.backbone, name=model.name, preprocessor=model.preprocessor, **task_config)


def load(name_or_path, sample_rate=None, compile=False):
    """Loads a preset into a ready Keras model.

    Every file's sha256 is checked against `metadata.json`, and the config's
    classes against the registered keras_ssm ones, before anything is built
    (`safe_mode=True`, no pickle); a preset that fails a check raises a
    `PresetError` and builds nothing.

    A text preset whose metadata names an `input.preprocessor` (e.g.
    `lra_text_s4d`: `ByteTokenizer`) loads with it as the task's
    `preprocessor`: its `predict` takes strings too, mapped to the ids of
    the training data, e.g. `zoo.load("lra_text_s4d").predict(["A quiet,
    moving film."])`.

    Args:
        name_or_path: a bundled preset name (see `list_presets()`), a folder
            holding `metadata.json`, or a `file://`, `http://` or `https://`
            URL of one (downloaded once into `$KERAS_SSM_HOME`).
        sample_rate: for an audio preset, the rate (Hz) of the input it will
            get: the model runs with its steps scaled by
            `metadata["input"]["sample_rate"] / sample_rate` (kept in its
            config as the backbone's `step_scale`).
        compile: if True, compile a classifier (logits out) with sparse
            categorical cross-entropy and accuracy, ready for `evaluate`.

    Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from keras_ssm import zoo
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> folder = zoo.save_preset(model, tempfile.mkdtemp() + "/tiny", {
    ...     "task": "audio-classification", "labels": ["no", "yes"],
    ...     "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
    ...     "metrics": {}, "evaluate": "none: an untrained example"})
    >>> x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 1)).astype("float32")
    >>> loaded = zoo.load(folder)
    >>> bool(np.allclose(keras.ops.convert_to_numpy(loaded(x)),
    ...                  keras.ops.convert_to_numpy(model(x)), atol=1e-6))
    True
    >>> zoo.load(folder, sample_rate=16000).backbone.step_scale
    0.5
    """
    folder, metadata, config, stored, hint = _verified_config(name_or_path)
    return _build(folder, metadata, config, stored, hint, sample_rate=sample_rate, compile=compile)


def from_preset(cls, name_or_path, num_classes=None, **kwargs):
    """A preset loaded as a `cls` (`SSMBackbone`, `SSMClassifier`, ...): the
    `classmethod` `from_preset` of the keras_ssm models calls this.

    The class the config builds is checked before anything is built: it
    must be `cls` or a subclass; for `SSMBackbone` (or a subclass), a task
    preset gives its `.backbone`. `kwargs` go to `load`.

    `num_classes=K` (task presets, keras-hub's idiom for fine-tuning): the
    preset's pretrained backbone under a new, freshly initialised `K`-way
    head; the head's other settings (pooling, hidden width) are the preset's.
    Without it, the preset's own trained head is kept.

    >>> import tempfile
    >>> from keras_ssm import zoo
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("dss", depth=1, width=8, input_dim=1,
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=2)
    >>> folder = zoo.save_preset(model, tempfile.mkdtemp() + "/tiny", {
    ...     "task": "audio-classification", "labels": ["no", "yes"],
    ...     "input": {"shape": [None, 1], "dtype": "float32"},
    ...     "metrics": {}, "evaluate": "none: an untrained example"})
    >>> type(SSMBackbone.from_preset(folder)).__name__  # the classifier's backbone
    'SSMBackbone'
    >>> SSMBackbone.from_preset(folder).count_params() == model.backbone.count_params()
    True
    >>> SSMClassifier.from_preset(folder, num_classes=5).output_shape  # a new 5-way head
    (None, 5)
    """
    folder, metadata, config, stored, hint = _verified_config(name_or_path)
    if num_classes is not None:
        if not issubclass(cls, SSMTask):
            raise ValueError(f"`num_classes` sets a task model's new head; a {cls.__name__} has none: "
                             "use SSMClassifier.from_preset(name, num_classes=K).")
        _check_num_classes(num_classes, folder, config, stored)
    if issubclass(stored, cls):
        if num_classes is None:
            return _build(folder, metadata, config, stored, hint, **kwargs)
        compile = kwargs.pop("compile", False)
        model = _with_new_head(_build(folder, metadata, config, stored, hint, **kwargs), num_classes)
        if compile:
            _compile(model)
        return model
    if issubclass(cls, SSMBackbone) and issubclass(stored, SSMTask):
        backbone_class = check_config(config["config"].get("backbone"), where=str(folder / CONFIG_FILE))
        if issubclass(backbone_class, cls):
            if kwargs.get("compile"):
                raise ValueError("`compile=True` compiles a classifier; a backbone is not compiled.")
            return _build(folder, metadata, config, stored, hint, **kwargs).backbone
    raise PresetError(
        f"The preset {name_or_path!r} holds a {stored.__name__}, not a {cls.__name__}: load it "
        f"with {stored.__name__}.from_preset(...) or keras_ssm.zoo.load(...)."
    )


# The models' `from_preset` reach this loader through the hook (they do not import the zoo).
register_preset_loader(from_preset)
