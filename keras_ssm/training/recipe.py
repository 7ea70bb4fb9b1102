"""Training recipes: a small JSON file that says what to train, and its runner.

A recipe names the data (a `keras_ssm.data` task and its folder), the model
(an `SSMBackbone` and its head), the optimizer of the papers (SSM parameters
at `ssm_lr` with no weight decay, the rest AdamW at `lr`; warmup then cosine
decay per step) and the number of epochs:

```json
{
  "name": "listops-s5",
  "seed": 0,
  "epochs": 40,
  "data": {"task": "listops", "path": "data/listops", "batch_size": 50},
  "model": {"layer": "s5", "depth": 8, "width": 128,
            "layer_kwargs": {"state_dim": 16, "blocks": 8, "bidirectional": true},
            "norm": "batch", "prenorm": true, "activation": "half_glu2",
            "dropout": 0.0, "pooling": "mean"},
  "optimizer": {"lr": 0.003, "ssm_lr": 0.001, "weight_decay": 0.04,
                "warmup_epochs": 1, "lr_min": 0.0, "groups": "BfastandCdecay"}
}
```

`optimizer.groups` picks the papers' parameter groups (`"standard"`,
`"BandCdecay"`, `"BfastandCdecay"`, `"noBCdecay"`: S5's `opt_config`) and
`optimizer.dt` the step's (`"ssm"`, `"global"`, `"global_decay"` = S5's
`dt_global`); see `keras_ssm.training.optimizers.GROUPS`. The model's block
settings `norm_momentum`, `norm_epsilon` and `gelu_approximate` are those of
`SSMBlock`; `model.frontend` (raw audio) holds the `LogMelFrontend` arguments
of the backbone's front end and `model.spec_augment` the `SpecAugment`
masks on its frames while training.

`train(recipe, out_dir)` keeps the best model by validation accuracy
(`best.keras`), resumes an interrupted run (`keras.callbacks.BackupAndRestore`),
logs metrics per epoch (`metrics.csv`), and writes `summary.json` with the
best epoch and its validation accuracy. Training reports the validation split
only: it never evaluates the test split, which is read once, at publication
(`python -m keras_ssm zoo evaluate`), so no choice can be made on it.

An optional `"warm_start"` starts a new run from an earlier model's weights:
a second schedule that continues a training whose first one has ended. It is
the `.keras` file of an earlier run (e.g. `"runs/NAME/best.keras"`, the
`best.keras` that `train` writes into its `--out` folder) or a zoo preset (a
bundled preset's name, e.g. `"lra_listops_s5"`, or a preset folder). A
relative path is read relative to the current directory, not to the recipe
file. The run's `summary.json` records what the stage started
from: `warm_start` (the resolved path or preset name), `warm_start_file` (the
weights file read: the `.keras` file, or the preset's `model.weights.h5`) and
`warm_start_sha256` (that file's sha256). An optional `"warm_start_sha256"`
pins it: training refuses to start, before anything is written, when the file
has another hash.

An optional `"stages"` goes on training in later stages, each a new schedule
warm-started from the previous stage's `best.keras`: a list of overrides for
stages 2, 3, ... (stage 1 is the recipe's own top level), e.g.
`"stages": [{"seed": 1, "epochs": 3, "optimizer": {"lr": 0.001}}]`. A stage
may set `epochs`, `seed`, `stop_after_epochs`, `warm_start_sha256` and partial
`data`, `model` and `optimizer` sections, deep-merged over the previous
stage's recipe (dicts key by key, other values replaced); every other field is
the previous stage's. `stop_after_epochs` and `warm_start_sha256` belong to
their own stage (a later stage does not inherit them), as do stage 1's
`warm_start` and `pretrain`: a later stage's warm start is implied.
`train_stages(recipe, "runs/NAME")` (`python -m keras_ssm train RECIPE --out
runs/NAME`) trains stage 1 into `runs/NAME` and stage k into the sibling
`runs/NAME_stage<k>`, each folder with the merged recipe it ran (`recipe.json`:
its `name` the recipe's name + `_stage<k>`, its `warm_start` the previous
folder's `best.keras`, a relative `--out` kept relative: run a chain from one
directory). A stage whose folder holds `summary.json` is finished and skipped,
so the same command resumes a chain (delete a stage's folder to train it
again); an interrupted stage resumes from its backup. `stage=K` (`--stage K`)
trains stage K only, from stage K-1's `best.keras`.

An optional `"stop_after_epochs"` (or `python -m keras_ssm train --stop-after
N`) ends the run after N of its `epochs` with the learning-rate schedule of
all `epochs`: it replays a stage that was stopped early (the session ended)
exactly as far as it ran. `summary.json` then has `planned_epochs` (the
recipe's `epochs`) and `stopped_after` (N).

An optional `"pretrain"` stage first pretrains the backbone on the training
split's inputs, labels unused (`keras_ssm.training.pretrain`: masked
reconstruction for a bidirectional model, next-step prediction for a causal
one), then fine-tunes the classifier from it:
`{"epochs": 20, "mask_ratio": 0.1, "lr": 0.001}`. Its optimizer fields
(those of `optimizer`) default to the recipe's own and run on their own
schedule over the stage's `epochs`; `mask_ratio` defaults to the papers'
ratio of the task (0.5 images, 0.15 text, 0.1 ListOps). The pretrained
backbone is saved as a backbone preset, `pretrained_backbone/` in the run
folder (`SSMBackbone.from_preset("runs/NAME/pretrained_backbone")`); a run
that finds it there does not pretrain again. `summary.json` records it under
`pretrain` (its weights' sha256 included). `pretrain` and `warm_start`
exclude each other; to pretrain once and fine-tune many times, give the
other recipes that folder as their `warm_start`: a backbone's weights start
the classifier's backbone, its head freshly initialised.

An optional `"distribution"` trains on several devices with
`keras.distribution` (JAX backend only; see
`keras_ssm.training.distribution`): `{"type": "data_parallel"}` or
`{"type": "model_parallel", "mesh": [batch, model]}`. It is applied before
the model is built. Every batch must then split evenly over the
data-parallel replicas: `data.batch_size` a multiple of their number and
`"drop_remainder": true` in `data` (the last, partial batch of each split,
and of each length bucket, is dropped — validation and test included).
Checkpoints are ordinary `.keras` files: they load with or without a
distribution.
"""

import contextlib
import copy
import csv
import inspect
import json
import os
import time

import keras

from keras_ssm.zoo.runs import stage_dir
from keras_ssm.zoo.verify import METADATA_FILE, WEIGHTS_FILE, sha256_file
from keras_ssm.layers.block import ACTIVATIONS, NORMS, SEQUENCE_LAYERS
from keras_ssm.layers.pooling import POOLINGS
from keras_ssm.models.backbone import SSMBackbone
from keras_ssm.training import distribution as distribution_lib
from keras_ssm.training import pretrain as pretrain_lib
from keras_ssm.training.optimizers import GROUPS, STEP_GROUPS, build_optimizer

# field: (types, required, default)
TOP_FIELDS = {
    "name": (str, False, "run"),
    "seed": (int, False, 0),
    "epochs": (int, True, None),
    "data": (dict, True, None),
    "model": (dict, True, None),
    "optimizer": (dict, False, {}),
    "tune": (dict, False, {}),
    "distribution": (dict, False, None),
    "warm_start": (str, False, None),
    "warm_start_sha256": (str, False, None),
    "stop_after_epochs": (int, False, None),
    "pretrain": (dict, False, None),
}
# What a later stage (`stages`) may set; the rest is the previous stage's.
STAGE_FIELDS = {
    "epochs": (int, False, None),
    "seed": (int, False, None),
    "stop_after_epochs": (int, False, None),
    "warm_start_sha256": (str, False, None),
    "data": (dict, False, None),
    "model": (dict, False, None),
    "optimizer": (dict, False, None),
}
# Fields of one stage only: the next stage does not inherit them.
ONE_STAGE_FIELDS = ("name", "stop_after_epochs", "warm_start", "warm_start_sha256", "pretrain")
MODEL_FIELDS = {
    "layer": (str, True, None),
    "depth": (int, False, 4),
    "width": (int, False, 128),
    "layer_kwargs": (dict, False, {}),
    "norm": (str, False, "batch"),
    "prenorm": (bool, False, True),
    "activation": (str, False, "half_glu1"),
    "dropout": ((int, float), False, 0.0),
    "pooling": (str, False, "mean"),
    "pool": (list, False, None),
    "norm_momentum": ((int, float), False, 0.95),
    "norm_epsilon": ((int, float), False, 1e-3),
    "gelu_approximate": (bool, False, True),
    "frontend": (dict, False, None),
    "spec_augment": (dict, False, None),
}
OPTIMIZER_FIELDS = {
    "lr": ((int, float), False, 1e-3),
    "ssm_lr": ((int, float), False, 1e-3),
    "weight_decay": ((int, float), False, 0.05),
    "warmup_epochs": ((int, float), False, 0),
    "lr_min": ((int, float), False, 0.0),
    "groups": (str, False, "standard"),
    "dt": (str, False, "ssm"),
}
# The optimizer fields a `pretrain` stage leaves out are the recipe's own.
PRETRAIN_FIELDS = {
    "epochs": (int, True, None),
    "mask_ratio": ((int, float), False, None),
    **{key: (types, False, None) for key, (types, _, _) in OPTIMIZER_FIELDS.items()},
}
PRETRAINED_BACKBONE = "pretrained_backbone"  # a backbone preset folder
# Data fields that only augment the training split.
TRAINING_AUGMENTATION = ("time_shift", "gain_db", "speed_change", "noise_probability", "noise_volume",
                         "band_limit_rate", "band_limit_probability", "edge_probability")
CHOICES = {
    "model.layer": tuple(SEQUENCE_LAYERS),
    "model.norm": NORMS,
    "model.activation": ACTIVATIONS,
    "model.pooling": POOLINGS,
    "optimizer.groups": tuple(GROUPS),
    "optimizer.dt": tuple(STEP_GROUPS),
    "pretrain.groups": tuple(GROUPS),
    "pretrain.dt": tuple(STEP_GROUPS),
}


def _type_name(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def _check_section(section, fields, prefix):
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ValueError(
            f"Unknown recipe field `{prefix}{unknown[0]}`; the fields of "
            f"`{prefix.rstrip('.') or 'recipe'}` are {sorted(fields)}."
        )
    checked = {}
    for key, (types, required, default) in fields.items():
        if key not in section:
            if required:
                raise ValueError(f"The recipe needs `{prefix}{key}` ({_type_name(types)}).")
            checked[key] = copy.deepcopy(default)
            continue
        value = section[key]
        if value is None and default is None and not required:  # null: as when absent
            checked[key] = None
            continue
        # bool is an int in Python: refuse True where a number is expected.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise ValueError(
                f"Recipe field `{prefix}{key}` must be {_type_name(types)}, got {value!r}."
            )
        allowed = CHOICES.get(f"{prefix}{key}")
        if allowed and value not in allowed:
            raise ValueError(f"Recipe field `{prefix}{key}` must be one of {list(allowed)}, got {value!r}.")
        checked[key] = value
    return checked


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _loader(task):
    """The loader function of a `keras_ssm.data` task and the options its name implies."""
    from keras_ssm import data

    if task not in data.TASKS:
        raise ValueError(f"Recipe field `data.task` must be one of {sorted(data.TASKS)}, got {task!r}.")
    name, implied = data.TASKS[task]
    return getattr(data, name), implied


def _check_data(section):
    if not isinstance(section.get("task"), str):
        raise ValueError("The recipe needs `data.task` (str), the name of a keras_ssm.data task.")
    if not isinstance(section.get("path"), str):
        raise ValueError("The recipe needs `data.path` (str), the folder that holds the task's data.")
    loader, _ = _loader(section["task"])
    options = set(inspect.signature(loader).parameters) - {"data_dir"}
    unknown = sorted(set(section) - options - {"task", "path"})
    if unknown:
        raise ValueError(
            f"Unknown recipe field `data.{unknown[0]}` for task {section['task']!r}; "
            f"its options are {sorted(options)}."
        )
    if not os.path.exists(section["path"]):
        raise ValueError(f"Recipe field `data.path`: {section['path']!r} does not exist.")
    return dict(section)


def parse_recipe(recipe):
    """Checks a recipe (a dict, or the path of a JSON file) and fills defaults.

    Every problem is a `ValueError` naming the field: an unknown key, a wrong
    type, a value outside its choices, a missing data folder or
    `warm_start`. A relative `data.path` in a file is read relative to the
    file; a relative `warm_start` relative to the current directory. The
    result is stage 1's recipe, with the checked overrides of any later
    `stages` (each merged stage is checked too: see `stage_recipes`).

    Example:
    >>> parse_recipe({"epochs": 1, "data": {"task": "listops"}, "model": {"layer": "s6"}})
    Traceback (most recent call last):
    ...
    ValueError: The recipe needs `data.path` (str), the folder that holds the task's data.
    """
    base = None
    if isinstance(recipe, (str, os.PathLike)):
        base = os.path.dirname(os.path.abspath(recipe))
        with open(recipe, encoding="utf-8") as f:
            try:
                recipe = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"The recipe file is not valid JSON: {error}") from None
    if not isinstance(recipe, dict):
        raise ValueError(f"A recipe is a JSON object, got {type(recipe).__name__}.")
    stages = recipe.get("stages")
    recipe = {key: value for key, value in recipe.items() if key != "stages"}
    if "distribution" in recipe and recipe["distribution"] is None:  # null: one device, as when absent
        recipe = {key: value for key, value in recipe.items() if key != "distribution"}
    checked = _check_section(recipe, TOP_FIELDS, "")
    data = dict(checked["data"])
    if base is not None and isinstance(data.get("path"), str):
        data["path"] = os.path.join(base, data["path"])
    checked["data"] = _check_data(data)
    if checked["warm_start"] is not None:
        checked["warm_start"] = _check_warm_start(checked["warm_start"])
    if checked["warm_start_sha256"] is not None:
        checked["warm_start_sha256"] = _check_sha256(checked["warm_start_sha256"], checked["warm_start"])
    checked["model"] = _check_section(checked["model"], MODEL_FIELDS, "model.")
    checked["optimizer"] = _check_section(checked["optimizer"], OPTIMIZER_FIELDS, "optimizer.")
    if checked["distribution"] is not None:
        checked["distribution"] = distribution_lib.check_setting(checked["distribution"])
    if checked["pretrain"] is not None:
        checked["pretrain"] = _check_pretrain(checked)
    if checked["epochs"] <= 0:
        raise ValueError(f"Recipe field `epochs` must be positive, got {checked['epochs']}.")
    stop = checked["stop_after_epochs"]
    if stop is not None and not 1 <= stop <= checked["epochs"]:
        raise ValueError(
            f"Recipe field `stop_after_epochs` must be between 1 and `epochs` ({checked['epochs']}), got "
            f"{stop}: it ends the run after that many epochs of the `epochs`-long schedule."
        )
    if stages:  # null or []: stage 1 only, as when absent
        checked["stages"] = _check_stages(stages, checked, base)
    return checked


def _check_stages(stages, first, base):
    """The checked overrides of `stages` over the parsed stage-1 recipe
    `first`; each merged stage is parsed too, so that a mistake in a late
    stage shows before stage 1 trains for hours."""
    if not isinstance(stages, list):
        raise ValueError(
            f"Recipe field `stages` must be a list of objects (the overrides of stages 2, 3, ...), got {stages!r}."
        )
    checked = [_check_stage(index, stage, base) for index, stage in enumerate(stages)]
    for k, spec in enumerate(_merged_stages({**first, "stages": checked})[1:], 2):
        try:
            # Without its implied warm start (and pin): the file comes with stage k-1.
            parse_recipe({key: value for key, value in spec.items() if key != "warm_start_sha256"})
        except ValueError as error:
            raise ValueError(f"Stage {k} (`stages[{k - 2}]` merged over stage {k - 1}): {error}") from None
    return checked


def _check_stage(index, stage, base):
    """One stage's overrides, checked; a relative `data.path` read relative
    to `base` (the recipe file's folder), as stage 1's."""
    field = f"stages[{index}]"
    if not isinstance(stage, dict):
        raise ValueError(
            f"Recipe field `{field}` must be an object (the overrides of stage {index + 2}), got {stage!r}."
        )
    unknown = sorted(set(stage) - set(STAGE_FIELDS))
    if unknown:
        raise ValueError(
            f"Unknown recipe field `{field}.{unknown[0]}`: stage {index + 2} may set {sorted(STAGE_FIELDS)}; its "
            f"warm start is implied (stage {index + 1}'s best.keras) and its other fields are stage {index + 1}'s. "
            f"Remove `{unknown[0]}` from `{field}`."
        )
    checked = _check_section(stage, {key: STAGE_FIELDS[key] for key in stage}, f"{field}.")
    checked = {key: value for key, value in checked.items() if value is not None}  # null: as when absent
    if base is not None and isinstance(checked.get("data", {}).get("path"), str):
        checked["data"] = {**checked["data"], "path": os.path.join(base, checked["data"]["path"])}
    if "warm_start_sha256" in checked:
        checked["warm_start_sha256"] = _check_sha256(checked["warm_start_sha256"], f"stage {index + 1}'s best.keras")
    return checked


def _merged(base, overrides):
    """`overrides` deep-merged over `base`: dicts key by key, other values replaced.

    >>> _merged({"lr": 0.003, "data": {"task": "sc12", "time_shift": 0.1}}, {"data": {"time_shift": 0.25}})
    {'lr': 0.003, 'data': {'task': 'sc12', 'time_shift': 0.25}}
    """
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merged_stages(recipe):
    """The recipe of each stage but for a later stage's implied warm start:
    stage 1 is the recipe without `stages`, stage k its overrides merged over
    stage k-1 less the fields of one stage, named after the recipe."""
    specs = [{key: value for key, value in recipe.items() if key != "stages"}]
    name = recipe.get("name", TOP_FIELDS["name"][2])
    for k, overrides in enumerate(recipe.get("stages") or [], 2):
        inherited = {key: value for key, value in specs[-1].items() if key not in ONE_STAGE_FIELDS}
        specs.append({"name": f"{name}_stage{k}", **_merged(inherited, overrides)})
    return specs


def stage_recipes(recipe, out_dir):
    """`[(folder, recipe), ...]`: the folder and the merged recipe of each
    stage of a recipe (a dict, parsed or not) trained into `out_dir`. A later
    stage's recipe is named `<name>_stage<k>` and warm-starts from the
    previous folder's `best.keras`; nothing is read or checked here.

    >>> recipe = {"name": "tiny", "epochs": 4, "stop_after_epochs": 3, "optimizer": {"lr": 0.003, "ssm_lr": 0.001},
    ...           "stages": [{"epochs": 2, "optimizer": {"lr": 0.001}}]}
    >>> for folder, spec in stage_recipes(recipe, "runs/tiny"):
    ...     print(folder, spec["name"], spec["epochs"], spec.get("stop_after_epochs"), spec["optimizer"])
    ...     print("  warm_start:", spec.get("warm_start"))
    runs/tiny tiny 4 3 {'lr': 0.003, 'ssm_lr': 0.001}
      warm_start: None
    runs/tiny_stage2 tiny_stage2 2 None {'lr': 0.001, 'ssm_lr': 0.001}
      warm_start: runs/tiny/best.keras
    """
    specs = _merged_stages(recipe)
    folders = [stage_dir(out_dir, k) for k in range(1, len(specs) + 1)]
    later = [
        (folder, {**spec, "warm_start": os.path.join(previous, "best.keras")})
        for previous, folder, spec in zip(folders, folders[1:], specs[1:])
    ]
    return [(folders[0], specs[0]), *later]


def _check_pretrain(recipe):
    """The `pretrain` stage with its defaults: the recipe's optimizer fields,
    and the papers' `mask_ratio` of the task (bidirectional models)."""
    section = _check_section(recipe["pretrain"], PRETRAIN_FIELDS, "pretrain.")
    for key, value in recipe["optimizer"].items():
        if section[key] is None:
            section[key] = value
    if section["epochs"] <= 0:
        raise ValueError(f"Recipe field `pretrain.epochs` must be positive, got {section['epochs']}.")
    task = recipe["data"]["task"]
    if task in ("retrieval", "aan"):
        raise ValueError(
            f"Recipe field `pretrain`: the task {task!r} feeds pairs of documents, which pretraining does not "
            "take yet. Remove `pretrain` from this recipe."
        )
    if recipe["warm_start"] is not None:
        raise ValueError(
            "Recipe fields `pretrain` and `warm_start` exclude each other: `pretrain` starts the backbone "
            "from scratch on its own objective, `warm_start` from trained weights. Remove one of them."
        )
    if recipe["model"]["layer_kwargs"].get("bidirectional", False):
        if section["mask_ratio"] is None:
            if task not in pretrain_lib.DEFAULT_MASK_RATIOS:
                raise ValueError(
                    f"Recipe field `pretrain.mask_ratio` is needed for task {task!r} (the fraction of steps "
                    "masked, between 0 and 1); the papers' defaults cover "
                    f"{sorted(pretrain_lib.DEFAULT_MASK_RATIOS)} only."
                )
            section["mask_ratio"] = pretrain_lib.DEFAULT_MASK_RATIOS[task]
        section["mask_ratio"] = pretrain_lib.check_mask_ratio(section["mask_ratio"], "pretrain.mask_ratio")
    elif section["mask_ratio"] is not None:
        raise ValueError(
            "Recipe field `pretrain.mask_ratio` applies to bidirectional models (masked reconstruction); "
            "this model is causal (`model.layer_kwargs.bidirectional` is not true) and pretrains by next-step "
            "prediction. Remove `pretrain.mask_ratio`, or make the model bidirectional."
        )
    return section


def _check_warm_start(value):
    """A `.keras` file (relative to the current directory) or a zoo preset."""
    from keras_ssm import zoo

    if value in zoo.list_presets():
        return value
    path = os.path.abspath(value)
    if os.path.isfile(path) and path.endswith(".keras"):
        return path
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "metadata.json")):
        return path
    raise ValueError(
        f"Recipe field `warm_start`: {value!r} (read relative to the current directory, {os.getcwd()}) is "
        "neither a `.keras` file (the model of an earlier run, e.g. runs/NAME/best.keras: train that stage "
        "first, from the folder the chain's commands run in) nor a zoo preset (a name in "
        "keras_ssm.zoo.list_presets() or a folder holding metadata.json)."
    )


def _check_sha256(value, warm_start):
    if warm_start is None:
        raise ValueError("Recipe field `warm_start_sha256` pins the weights of a `warm_start`; the recipe has none.")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise ValueError(f"Recipe field `warm_start_sha256` must be 64 hex digits (a sha256), got {value!r}.")
    return value.lower()


def warm_start_file(warm_start):
    """The weights file a parsed `warm_start` reads: the `.keras` file itself,
    or the preset's `model.weights.h5`.

    >>> os.path.basename(warm_start_file("fsdd_s5"))
    'model.weights.h5'
    """
    from keras_ssm import zoo

    if warm_start.endswith(".keras"):
        return warm_start
    return str(zoo.preset_path(warm_start) / WEIGHTS_FILE)


def warm_start_record(recipe):
    """What a parsed recipe's run starts from, checked against its pin.

    Returns `{}` without a `warm_start`, else `{"warm_start": ...,
    "warm_start_file": ..., "warm_start_sha256": ...}` (the sha256 of the
    file read). Raises a `ValueError` naming both hashes when the recipe's
    `warm_start_sha256` differs from the file's.

    >>> warm_start_record(parse_recipe({"epochs": 1, "data": {"task": "fsdd", "path": "."},
    ...                                 "model": {"layer": "s5"}, "warm_start": "fsdd_s5",
    ...                                 "warm_start_sha256": 64 * "0"}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Recipe field `warm_start_sha256` is 000...000, but the weights file of `warm_start` (...model.weights.h5) has sha256 ...
    """
    if recipe["warm_start"] is None:
        return {}
    path = warm_start_file(recipe["warm_start"])
    digest = sha256_file(path)
    pinned = recipe["warm_start_sha256"]
    if pinned is not None and pinned != digest:
        raise ValueError(
            f"Recipe field `warm_start_sha256` is {pinned}, but the weights file of `warm_start` ({path}) has "
            f"sha256 {digest}: it is not the file the recipe was written for. Start from that file (train the "
            "previous stage again, or name the preset it came from), or, to start from this one on purpose, set "
            "`warm_start_sha256` to its hash (or remove it)."
        )
    return {"warm_start": recipe["warm_start"], "warm_start_file": path, "warm_start_sha256": digest}


def _warm_start(model, path):
    """Sets `model`'s weights from a `warm_start_file` (a preset's are
    sha256-verified by `zoo.load` first). A backbone (a pretraining run's
    `pretrained_backbone`) starts `model.backbone`; the head keeps its
    fresh initial weights."""
    from keras_ssm import zoo

    if path.endswith(".keras"):
        earlier = keras.saving.load_model(path, safe_mode=True)
    else:
        earlier = zoo.load(os.path.dirname(path))
    if isinstance(earlier, SSMBackbone) and not isinstance(model, SSMBackbone):
        pretrain_lib.copy_backbone_weights(earlier, model.backbone)
    else:
        model.set_weights(earlier.get_weights())


def load_data(recipe):
    """The `keras_ssm.data.TaskData` of a parsed recipe."""
    from keras_ssm import data

    options = {k: v for k, v in recipe["data"].items() if k not in ("task", "path")}
    return data.load(recipe["data"]["task"], recipe["data"]["path"], **options)


def build_model(recipe, data):
    """The classifier a recipe describes, shaped for `data`."""
    from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier

    spec = recipe["model"]
    inputs = {"vocab_size": data.vocab_size} if data.vocab_size else {"input_dim": data.input_shape[-1]}
    backbone = SSMBackbone(
        spec["layer"],
        depth=spec["depth"],
        width=spec["width"],
        layer_kwargs=spec["layer_kwargs"],
        norm=spec["norm"],
        prenorm=spec["prenorm"],
        activation=spec["activation"],
        norm_momentum=spec["norm_momentum"],
        norm_epsilon=spec["norm_epsilon"],
        gelu_approximate=spec["gelu_approximate"],
        dropout=spec["dropout"],
        pool=spec["pool"],
        frontend=spec["frontend"],
        spec_augment=spec["spec_augment"],
        **inputs,
    )
    if data.task == "retrieval":
        return SSMRetrievalClassifier(backbone, num_classes=data.num_classes)
    return SSMClassifier(backbone, num_classes=data.num_classes, pooling=spec["pooling"])


def make_optimizer(spec, epochs, steps_per_epoch):
    """The papers' optimizer of an optimizer section (the recipe's `optimizer`,
    or a `pretrain` stage's) over `epochs` epochs of `steps_per_epoch` steps."""
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(spec["warmup_epochs"] * steps_per_epoch), total - 1)
    return build_optimizer(
        spec["lr"], spec["ssm_lr"], spec["weight_decay"], warmup, total, lr_min=spec["lr_min"],
        groups=spec["groups"], dt=spec["dt"],
    )


def compile_model(model, recipe, steps_per_epoch):
    """Compiles with the papers' optimizer groups and schedule."""
    optimizer = make_optimizer(recipe["optimizer"], recipe["epochs"], steps_per_epoch)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def _steps(dataset):
    if dataset is None:
        raise ValueError("The recipe's data has no training split (`data.path` holds a test split only).")
    steps = int(dataset.cardinality()) if hasattr(dataset, "cardinality") else len(dataset)
    if steps < 0:
        raise ValueError("The training set must have a known number of batches.")
    return steps


def train(recipe, out_dir, verbose=1, callbacks=()):
    """Trains a recipe into `out_dir`; resumes if that folder holds a backup.

    Writes `best.keras` (best validation accuracy), `metrics.csv`,
    `summary.json` (its `seconds`: the wall time over resumes, kept in
    `seconds.json`); `backup/` exists only while a run is unfinished.
    `callbacks` are added after the recipe's own. With a `distribution`,
    everything (building, fitting) runs inside its
    scope; a `ValueError` naming the field comes before anything is written
    when it cannot run here.

    A `warm_start`'s file is hashed (and checked against the recipe's
    `warm_start_sha256`) before anything is written; the summary records
    it. With `stop_after_epochs` the run ends after that many epochs of the
    `epochs`-long schedule. A recipe with `stages` trains them all
    (`train_stages`).

    Returns:
        the summary dict (best epoch, its validation accuracy, parameter
        count, wall time, what it started from; the last stage's): no
        test-split figure.
    """
    recipe = parse_recipe(recipe)
    if "stages" in recipe:
        return train_stages(recipe, out_dir, verbose=verbose, callbacks=callbacks)[-1][1]
    start = warm_start_record(recipe)
    distribution = make_distribution(recipe)
    with distribution.scope() if distribution else contextlib.nullcontext():
        return _train(recipe, out_dir, verbose, callbacks, distribution, start)


def train_stages(recipe, out_dir, stage=None, verbose=1, callbacks=()):
    """Trains a recipe's stages in order (or only `stage`, 1 for the top
    level): stage 1 into `out_dir`, stage k into `<out_dir>_stage<k>` from
    stage k-1's `best.keras` (`stage_recipes`). With `stages`, a stage whose
    folder holds `summary.json` is finished and skipped: the same call resumes
    the chain. A recipe without `stages` trains as `train` does.

    Returns `[(folder, summary), ...]` of the stages trained or found finished.

    >>> train_stages({"epochs": 1, "data": {"task": "listops", "path": "."}, "model": {"layer": "s5"}},
    ...              "runs/tiny", stage=2)
    Traceback (most recent call last):
    ...
    ValueError: `stage` (--stage) must be between 1 and 1, the recipe's stages (1 + its `stages`), got 2.
    """
    recipe = parse_recipe(recipe)
    plan = stage_recipes(recipe, out_dir)
    if stage is not None and not 1 <= stage <= len(plan):
        raise ValueError(
            f"`stage` (--stage) must be between 1 and {len(plan)}, the recipe's stages (1 + its `stages`), got {stage}."
        )
    return [
        (folder, _train_stage(k, plan, verbose, callbacks))
        for k, (folder, _) in enumerate(plan, 1)
        if stage in (None, k)
    ]


def _train_stage(k, plan, verbose, callbacks):
    """The summary of stage `k` of a `stage_recipes` plan: read when the stage
    is finished (a chain of stages only), else trained."""
    folder, spec = plan[k - 1]
    summary_path = os.path.join(folder, "summary.json")
    if len(plan) > 1 and os.path.isfile(summary_path):
        if verbose:
            print(f"stage {k}: {folder} is finished (it holds summary.json): skipped")
        with open(summary_path, encoding="utf-8") as f:
            return json.load(f)
    if k > 1 and not os.path.isfile(spec["warm_start"]):
        raise ValueError(
            f"Stage {k} starts from stage {k - 1}'s best.keras, {spec['warm_start']} (relative to the current "
            f"directory, {os.getcwd()}), which does not exist: train stage {k - 1} first (`--stage {k - 1}`, or "
            "every stage: no `--stage`), from the directory the chain runs in."
        )
    return train(spec, folder, verbose, callbacks)


def make_distribution(recipe):
    """The `keras.distribution.Distribution` of a parsed recipe, or None.

    Raises a `ValueError` naming the field when the recipe's `distribution`
    cannot run here (another backend than JAX, the devices, the batches).
    """
    if recipe["distribution"] is None:
        return None
    distribution = distribution_lib.make_distribution(recipe["distribution"], model=recipe["model"])
    replicas = distribution.num_model_replicas
    if replicas > 1:
        options = _data_options(recipe)
        if options["batch_size"] % replicas:
            raise ValueError(
                f"Recipe field `data.batch_size` ({options['batch_size']}) must be a multiple of "
                f"the {replicas} data-parallel replicas of `distribution`."
            )
        if not options.get("drop_remainder", False):
            raise ValueError(
                f"Recipe field `data.drop_remainder` must be true under `distribution` "
                f"({replicas} data-parallel replicas): a last, partial batch would not split "
                "evenly over them (it is dropped in every split, validation and test included)."
            )
    return distribution


def _data_options(recipe):
    """The loader options a recipe's data runs with: the loader's defaults,
    the options the task's name implies, then the recipe's own fields."""
    _, implied = _loader(recipe["data"]["task"])
    return {**_loader_defaults(recipe["data"]["task"]), **implied, **recipe["data"]}


def _loader_defaults(task):
    loader, _ = _loader(task)
    return {
        name: p.default
        for name, p in inspect.signature(loader).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _train(recipe, out_dir, verbose, callbacks, distribution, start):
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(recipe["seed"])
    data = load_data(recipe)
    model = build_model(recipe, data)
    if start:
        # A new run (schedule from its start) from the weights of an earlier one:
        # the very file hashed in `start`.
        _warm_start(model, start["warm_start_file"])
    pretrained = {}
    if recipe["pretrain"] is not None:
        pretrained = pretrain_backbone(recipe, data, model.backbone, out_dir, verbose)
    compile_model(model, recipe, _steps(data.train))
    best_path = os.path.join(out_dir, "best.keras")
    backup_dir, metrics_path = os.path.join(out_dir, "backup"), os.path.join(out_dir, "metrics.csv")
    clock = _Clock(os.path.join(out_dir, "seconds.json"), resumed=os.path.exists(backup_dir))
    if not os.path.exists(backup_dir) and os.path.exists(metrics_path):
        os.remove(metrics_path)  # a finished earlier run: start the log anew
    # On resume, only a better epoch than those already logged replaces best.keras.
    earlier = _read_metrics(metrics_path)
    threshold = max((row["val_accuracy"] for row in earlier), default=None)
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir),
        keras.callbacks.ModelCheckpoint(
            best_path, monitor="val_accuracy", mode="max", save_best_only=True, initial_value_threshold=threshold
        ),
        keras.callbacks.CSVLogger(metrics_path, append=True),
        clock,
        *callbacks,
    ]
    with open(os.path.join(out_dir, "recipe.json"), "w", encoding="utf-8") as f:
        # Pinned to the file it started from: the record survives a run that never ends,
        # and training this recipe.json again starts from that very file.
        json.dump({**recipe, "warm_start_sha256": start.get("warm_start_sha256")}, f, indent=2)
    clock.start()
    # The training pipeline reshuffles itself every epoch (seeded). The schedule
    # spans `epochs` (compile_model); `stop_after_epochs` only ends the fit sooner.
    model.fit(
        data.train,
        validation_data=data.validation,
        epochs=recipe["stop_after_epochs"] or recipe["epochs"],
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )
    best = keras.saving.load_model(best_path, safe_mode=True)
    rows = _read_metrics(metrics_path)
    best_row = max(rows, key=lambda row: row["val_accuracy"])
    summary = {
        "name": recipe["name"],
        "task": data.task,
        "epochs": len(rows),
        "best_epoch": int(best_row["epoch"]) + 1,
        "best_val_accuracy": best_row["val_accuracy"],
        "parameters": int(best.count_params()),
        "seconds": round(clock.seconds(), 1),
        "backend": keras.backend.backend(),
        "distribution": distribution_lib.describe(distribution),
        "planned_epochs": recipe["epochs"],
        **({"stopped_after": recipe["stop_after_epochs"]} if recipe["stop_after_epochs"] else {}),
        **start,
        **pretrained,
    }
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def pretrain_backbone(recipe, data, backbone, out_dir, verbose=1):
    """The recipe's `pretrain` stage: pretrains a copy of `backbone` (the
    recipe's model's, as built) on the training split's inputs, saves it as
    the backbone preset `out_dir/pretrained_backbone/`, and copies its
    weights into `backbone`. An existing preset there is read instead (a
    resumed run); an interrupted pretraining resumes from `pretrain_backup/`.

    Returns the summary's record: `{"pretrain": {"epochs", "objective",
    "mask_ratio", "file", "sha256", "final_loss"}}` (`file`: the preset's
    weights).
    """
    from keras_ssm import zoo

    spec = recipe["pretrain"]
    path = os.path.join(out_dir, PRETRAINED_BACKBONE)
    metrics_path = os.path.join(out_dir, "pretrain_metrics.csv")
    objective = pretrain_lib.default_objective(backbone)
    mask_ratio = spec["mask_ratio"] if objective == "masked" else None
    if not os.path.isfile(os.path.join(path, METADATA_FILE)):
        # A causal model's next-step objective masks nothing: its `mask_ratio` is None and unused.
        pretrainer = pretrain_lib.SSMPretrainer(
            backbone, objective=objective, mask_ratio=spec["mask_ratio"] or 0.5, seed=recipe["seed"]
        )
        pretrainer.compile(optimizer=make_optimizer(spec, spec["epochs"], _steps(data.train)))
        for inputs, _ in data.train.take(1):
            pretrainer(inputs)  # built before BackupAndRestore restores its weights
        backup_dir = os.path.join(out_dir, "pretrain_backup")
        if not os.path.exists(backup_dir) and os.path.exists(metrics_path):
            os.remove(metrics_path)
        pretrainer.fit(
            pretrain_lib.pretraining_inputs(data.train),
            validation_data=None if data.validation is None else pretrain_lib.pretraining_inputs(data.validation),
            epochs=spec["epochs"],
            callbacks=[
                keras.callbacks.BackupAndRestore(backup_dir),
                keras.callbacks.CSVLogger(metrics_path, append=True),
            ],
            verbose=verbose,
            shuffle=False,
        )
        last = _read_metrics(metrics_path)[-1]
        # Written whole or not at all: a folder with metadata.json is a finished pretraining.
        zoo.save_preset(pretrainer.pretrained_backbone(), path, {
            "task": "pretrained-backbone",
            "labels": [],
            "input": pretrain_lib.input_spec(backbone),
            "metrics": {key: last[key] for key in ("loss", "val_loss") if key in last},
            "evaluate": "none: a backbone without a head; `metrics` are its last pretraining epoch's "
                        "reconstruction losses",
            "pretrain": {"recipe": recipe["name"], "task": data.task, "epochs": spec["epochs"],
                         "objective": objective, "mask_ratio": mask_ratio},
        })
    pretrained = SSMBackbone.from_preset(path)
    pretrain_lib.copy_backbone_weights(pretrained, backbone)
    rows = _read_metrics(metrics_path)
    weights = os.path.join(path, WEIGHTS_FILE)
    return {
        "pretrain": {
            "epochs": spec["epochs"],
            "objective": objective,
            "mask_ratio": mask_ratio,
            "file": weights,
            "sha256": sha256_file(weights),
            "final_loss": rows[-1]["loss"] if rows else None,
        }
    }


class _Clock(keras.callbacks.Callback):
    """The run's wall time over resumes, kept in `seconds.json` at each epoch's end.

    A resumed run adds its own time to the earlier runs' up to their last
    finished epoch (an epoch cut off and redone counts once).
    """

    def __init__(self, path, resumed):
        super().__init__()
        self.path, self.earlier = path, 0.0
        if resumed and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self.earlier = float(json.load(f)["seconds"])

    def start(self):
        self.started = time.time()

    def seconds(self):
        return self.earlier + time.time() - self.started

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump({"epochs": epoch + 1, "seconds": round(self.seconds(), 1)}, f)


def _read_metrics(path):
    """The rows of a CSVLogger file as dicts of floats ([] if none)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def evaluate(recipe, model_path, split="validation", verbose=1, sample_rate=None):
    """Evaluates a saved `.keras` model on a split of the recipe's data.

    The default is the validation split, on which every choice is made; the
    test split is read only when asked for by name (`split="test"`), once, at
    publication.

    `sample_rate` (audio tasks): read the data at that rate and run the model
    zero-shot there, its steps scaled by `trained rate / sample_rate`
    (`SSMTask.retarget`), the trained rate being the recipe's
    `data.sample_rate` (or its loader's default).

    Returns `{"loss": ..., "accuracy": ..., "split": ..., "sample_rate": ...}`.
    """
    recipe = parse_recipe(recipe)
    if split not in ("train", "validation", "test"):
        raise ValueError(f"`split` must be one of ['train', 'validation', 'test'], got {split!r}.")
    if not os.path.isfile(model_path):
        raise ValueError(f"`model`: no file at {model_path!r} (expected a .keras file from `train`).")
    trained_rate = None
    if sample_rate is not None:
        options = _data_options(recipe)
        if "sample_rate" not in options:
            raise ValueError(f"`sample_rate`: the task {recipe['data']['task']!r} is not audio.")
        trained_rate = options["sample_rate"]
        recipe = copy.deepcopy(recipe)
        recipe["data"]["sample_rate"] = sample_rate
        # Augmentation touches the training split only; a band limit may not even
        # exist at the new rate (a 4 kHz limit of 4 kHz input).
        for key in TRAINING_AUGMENTATION:
            recipe["data"].pop(key, None)
    distribution = make_distribution(recipe)
    with distribution.scope() if distribution else contextlib.nullcontext():
        data = load_data(recipe)
        model = keras.saving.load_model(model_path, safe_mode=True)
        if sample_rate is not None:
            model = model.retarget(sample_rate=sample_rate, trained_rate=trained_rate)
            model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        loss, accuracy = model.evaluate(data[split], verbose=verbose)
    return {"split": split, "loss": float(loss), "accuracy": float(accuracy), "sample_rate": sample_rate}
