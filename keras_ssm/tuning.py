"""keras-tuner search over the SSM design space, one recipe per trial.

A trial is a training recipe (`keras_ssm.training.recipe`): the drawn
hyperparameters are written into a copy of a base recipe, and the model and
its optimizer are those `train` builds from it (`build_model`,
`compile_model`). Every field the search does not draw stays as the recipe
sets it: a log-mel front end, SpecAugment, the block settings, `pool`, the
layer's other arguments, the optimizer groups and schedule.

`RecipeHyperModel` searches a recipe's `tune` section (what `tune_recipe` and
`python -m keras_ssm tune` run). `SSMHyperModel` searches the choices the
papers ablate from default settings: the layer family, depth, width, state
size, S5's block count, the initialisation of each family (S4D's LegS / Inv /
Lin / random study), the discretization, the step range, bidirectionality,
normalization, activation, dropout and the two learning rates of the papers'
optimizer.
"""

import contextlib
import copy
import inspect
import json
import os
import types

import keras
import keras_tuner

from keras_ssm.layers.block import SEQUENCE_LAYERS
from keras_ssm.training import SSMAdamW
from keras_ssm.training import recipe as recipes

# name: (kind, default search space). Choices are lists; ranges are
# ("int" | "float" | "log", low, high).
SPACE = {
    "layer": ["s4d", "dss", "s5"],
    "depth": ("int", 1, 6),
    "width": [32, 64, 128, 256],
    "state_dim": [16, 32, 64],
    "discretization": ["zoh", "bilinear"],
    "dt_min": ("log", 1e-4, 1e-2),
    "dt_max": ("log", 2e-2, 2e-1),
    "bidirectional": [False, True],
    "norm": ["batch", "layer"],
    "prenorm": [True, False],
    "activation": ["gelu", "glu", "half_glu1", "half_glu2"],
    "dropout": ("float", 0.0, 0.3),
    "lr": ("log", 1e-4, 1e-2),
    "ssm_lr": ("log", 1e-4, 1e-2),
    "weight_decay": ("float", 0.0, 0.1),
    "pooling": ["mean"],
}
# Per family, drawn only when that family is chosen, named after it ("s5_blocks").
FAMILY_SPACE = {
    "s4d": {"init": ["legs", "inv", "lin", "random"], "real_transform": ["exp"]},
    "dss": {"init": ["skew_hippo", "random"], "variant": ["exp", "softmax"]},
    "s5": {
        "blocks": [1, 2, 4, 8],
        "c_init": ["trunc_standard", "lecun", "complex_normal"],
        "clip_eigs": [False],
    },
}
FAMILY_KEYS = {key for space in FAMILY_SPACE.values() for key in space}
FAMILY_NAMES = {f"{family}_{key}" for family, space in FAMILY_SPACE.items() for key in space}
# Tasks whose examples are document pairs (SSMRetrievalClassifier).
PAIR_TASKS = ("retrieval", "aan")


def trial_recipe(recipe, values):
    """A copy of a parsed recipe with hyperparameter values written in.

    Each value goes where the recipe holds it: `model` (`layer`, `depth`,
    `dropout`, ...), `optimizer` (`lr`, `ssm_lr`, `weight_decay`), else
    `model.layer_kwargs`; every other field stays. A family's own values
    (`"s5_blocks"`) apply when that family is the trial's layer. A layer
    drawn in place of the recipe's keeps the layer arguments it takes, but
    not the recipe family's own (an S4D `init` is no DSS one). The layer's
    arguments are then made valid: DSS-softmax runs ZOH only, and S5 falls
    back to one block when `blocks` would not leave an even number of states
    per block (conjugate pairs).

    Args:
        recipe: a parsed recipe (`keras_ssm.training.recipe.parse_recipe`).
        values: hyperparameter values by name, as `HyperParameters.values`.

    Returns:
        the trial's recipe: what its model and optimizer are built from.

    Example:
    >>> recipe = {"epochs": 1, "model": {"layer": "s5", "layer_kwargs": {"state_dim": 16, "blocks": 4}},
    ...           "optimizer": {"lr": 1e-3, "groups": "noBCdecay"}}
    >>> trial = trial_recipe(recipe, {"lr": 2e-3, "state_dim": 12})
    >>> trial["optimizer"], trial["model"]["layer_kwargs"]
    ({'lr': 0.002, 'groups': 'noBCdecay'}, {'state_dim': 12, 'blocks': 1})
    """
    trial = copy.deepcopy(recipe)
    model = trial["model"]
    family = values.get("layer", model["layer"])
    if family != model["layer"]:
        takes = inspect.signature(SEQUENCE_LAYERS[family]).parameters
        own = FAMILY_SPACE.get(model["layer"], {})
        model["layer_kwargs"] = {k: v for k, v in model["layer_kwargs"].items() if k in takes and k not in own}
    drawn_family = {f"{family}_{key}": key for key in FAMILY_SPACE.get(family, {})}
    for name, value in values.items():
        if name in FAMILY_NAMES and name not in drawn_family:
            continue  # another family's: inactive in this draw
        name = drawn_family.get(name, name)
        if name in recipes.MODEL_FIELDS:
            model[name] = value
        elif name in recipes.OPTIMIZER_FIELDS:
            trial["optimizer"][name] = value
        else:
            model["layer_kwargs"][name] = value
    model["layer_kwargs"] = _valid_layer_kwargs(family, model["layer_kwargs"])
    return trial


def _valid_layer_kwargs(family, kwargs):
    """`kwargs` of a `family` layer with the combinations it cannot build fixed."""
    defaults = {k: p.default for k, p in inspect.signature(SEQUENCE_LAYERS[family]).parameters.items()}
    settings = {**defaults, **kwargs}
    kwargs = dict(kwargs)
    if family == "dss" and settings["variant"] == "softmax" and settings["discretization"] != "zoh":
        kwargs["discretization"] = "zoh"  # the softmax kernel is defined for ZOH
    if family == "s5" and settings["blocks"] != 1:
        per_block, rest = divmod(settings["state_dim"], settings["blocks"])
        if rest or per_block % 2:  # each block must keep conjugate pairs
            kwargs["blocks"] = 1
    return kwargs


def _declare(hp, name, space):
    """Declares `name` on `hp` from a choice list, a range or a fixed value."""
    if isinstance(space, list):
        if len(space) == 1:
            return hp.Fixed(name, space[0])
        if set(space) == {False, True} and all(isinstance(x, bool) for x in space):
            return hp.Boolean(name)  # keras-tuner's Choice turns bools into ints
        return hp.Choice(name, space)
    if isinstance(space, tuple):
        kind, low, high = space
        if kind == "int":
            return hp.Int(name, low, high)
        return hp.Float(name, low, high, sampling="log" if kind == "log" else "linear")
    return hp.Fixed(name, space)


def _narrow(name, value):
    """A caller's value for `name`: a list narrows a choice, a 2-tuple a
    range, anything else fixes it."""
    default = SPACE.get(name)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(default, tuple):
        return (default[0], *value)
    return value


def _space_from_json(name, spec):
    """A recipe's `tune` entry: a list of choices or `{"min": a, "max": b}`."""
    if isinstance(spec, list) and spec:
        return spec
    if isinstance(spec, dict) and set(spec) == {"min", "max"}:
        return (spec["min"], spec["max"])
    raise ValueError(f"Recipe field `tune.{name}` must be a list of choices or {{\"min\": a, \"max\": b}}, got {spec!r}.")


def recipe_space(recipe):
    """The search space a parsed recipe's `tune` section opens: per
    hyperparameter of `SPACE` or `FAMILY_SPACE`, a list of choices or a
    `{"min": a, "max": b}` range (in `SPACE`'s scale).

    Example:
    >>> recipe = {"model": {"layer": "s5"},
    ...           "tune": {"width": [64, 128], "lr": {"min": 1e-4, "max": 1e-3}, "blocks": [1, 2]}}
    >>> recipe_space(recipe)
    {'width': [64, 128], 'lr': ('log', 0.0001, 0.001), 'blocks': [1, 2]}
    """
    known = set(SPACE) | FAMILY_KEYS
    space = {}
    for name, spec in recipe.get("tune", {}).items():
        if name not in known:
            raise ValueError(f"Unknown hyperparameter `tune.{name}`; the space has {sorted(known)}.")
        space[name] = _narrow(name, _space_from_json(name, spec))
    layers = space.get("layer", [recipe["model"]["layer"]])
    for name in sorted(space.keys() & FAMILY_KEYS):
        if not any(name in FAMILY_SPACE.get(layer, {}) for layer in layers):
            families = sorted(family for family, keys in FAMILY_SPACE.items() if name in keys)
            raise ValueError(f"`tune.{name}` applies to the layers {families}, which this search never draws.")
    return space


class RecipeHyperModel(keras_tuner.HyperModel):
    """A compiled model per trial of a recipe's `tune` section, built as `train` builds it.

    Each trial writes its draw into a copy of the recipe (`trial_recipe`),
    builds its model with `keras_ssm.training.recipe.build_model` and
    compiles it with `compile_model` (the recipe's optimizer groups, warmup
    and cosine to `lr_min` over its `epochs`; logits out, `accuracy`).

    Args:
        recipe: a parsed recipe (`keras_ssm.training.recipe.parse_recipe`).
        data: its `keras_ssm.data.TaskData` (`load_data`), or any object with
            the `task`, `num_classes`, `input_shape` and `vocab_size` the
            model is shaped for.
        steps_per_epoch: batches per epoch (`int(data.train.cardinality())`),
            the unit of the recipe's schedule; None: constant learning rates.
        **kwargs: `keras_tuner.HyperModel` arguments (`name`, `tunable`).

    Example:
    >>> import tempfile, keras_tuner
    >>> from keras_ssm.data import listops
    >>> from keras_ssm.training import recipe as recipes
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = listops.write_dataset(folder.name, 4, 2, 2, min_length=10, max_length=60)
    >>> recipe = recipes.parse_recipe({
    ...     "epochs": 1, "data": {"task": "listops", "path": folder.name, "batch_size": 2},
    ...     "model": {"layer": "s4d", "depth": 1, "width": 8, "norm": "layer"},
    ...     "tune": {"width": [8, 16]}})
    >>> data = recipes.load_data(recipe)
    >>> hp = keras_tuner.HyperParameters()
    >>> model = RecipeHyperModel(recipe, data, steps_per_epoch=2).build(hp)
    >>> model.backbone.width == hp.values["width"], model.backbone.norm
    (True, 'layer')
    >>> folder.cleanup()
    """

    def __init__(self, recipe, data, steps_per_epoch, **kwargs):
        super().__init__(**kwargs)
        self.recipe = recipe
        self.data = data
        self.steps_per_epoch = steps_per_epoch
        self.space = recipe_space(recipe)

    def family_space(self, family):
        """The space of `family`'s own hyperparameters (`FAMILY_SPACE` keys)."""
        return {key: self.space[key] for key in FAMILY_SPACE.get(family, {}) if key in self.space}

    def build(self, hp):
        values = {name: _declare(hp, name, space) for name, space in self.space.items() if name not in FAMILY_KEYS}
        family = values.get("layer", self.recipe["model"]["layer"])
        # A family's own hyperparameters are active only when it is drawn.
        scope = hp.conditional_scope("layer", [family]) if "layer" in values else contextlib.nullcontext()
        with scope:
            for name, space in self.family_space(family).items():
                values[f"{family}_{name}"] = _declare(hp, f"{family}_{name}", space)
        trial = trial_recipe(self.recipe, values)
        model = recipes.build_model(trial, self.data)
        if self.steps_per_epoch:
            recipes.compile_model(model, trial, self.steps_per_epoch)
        else:
            spec = trial["optimizer"]
            model.compile(
                optimizer=SSMAdamW(
                    learning_rate=spec["lr"],
                    ssm_learning_rate=spec["ssm_lr"],
                    weight_decay=spec["weight_decay"],
                    groups=spec["groups"],
                    dt=spec["dt"],
                ),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
        return model


class SSMHyperModel(RecipeHyperModel):
    """A compiled SSM classifier per trial (logits out, `accuracy` metric),
    drawn from `SPACE` and `FAMILY_SPACE` over the recipe defaults.

    Args:
        num_classes: number of classes.
        input_shape: `(length, features)` of continuous inputs (`length` may be
            None), or None with `vocab_size` for token inputs.
        vocab_size: vocabulary size for token inputs (id 0 = padding).
        steps_per_epoch, epochs: when both are given, the learning rates
            follow the papers' warmup (one epoch) + cosine schedule; else
            they are constant.
        task: the `keras_ssm.data` task name: `"retrieval"` (or `"aan"`)
            builds an `SSMRetrievalClassifier` over document pairs (token
            inputs); any other, or None, an `SSMClassifier`.
        pool: the backbone's downsampling per block (`SSMBackbone(pool=...)`),
            fixed, not searched.
        **fixed: any hyperparameter of `SPACE` or `FAMILY_SPACE`, fixed
            (`layer="s5"`), narrowed to choices (`layer=["s4d", "s5"]`) or to
            a range (`lr=(1e-3, 5e-3)`).

    Example:
    >>> import keras_tuner, numpy as np
    >>> hypermodel = SSMHyperModel(3, input_shape=(None, 1), layer="s4d", depth=1, width=16)
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> tuple(model(np.zeros((2, 40, 1), "float32")).shape)
    (2, 3)
    """

    def __init__(
        self,
        num_classes,
        input_shape=None,
        vocab_size=None,
        steps_per_epoch=None,
        epochs=None,
        task=None,
        pool=None,
        **fixed,
    ):
        if (input_shape is None) == (vocab_size is None):
            raise ValueError("Give exactly one of `input_shape` (continuous inputs) or `vocab_size` (tokens).")
        if task in PAIR_TASKS and vocab_size is None:
            raise ValueError(f"`task={task!r}` classifies pairs of token documents: give `vocab_size`.")
        known = set(SPACE) | FAMILY_KEYS
        unknown = sorted(set(fixed) - known)
        if unknown:
            raise ValueError(f"Unknown hyperparameter `{unknown[0]}`; the space has {sorted(known)}.")
        recipe = {
            "epochs": epochs,
            "model": {key: copy.deepcopy(default) for key, (_, _, default) in recipes.MODEL_FIELDS.items()},
            "optimizer": {key: default for key, (_, _, default) in recipes.OPTIMIZER_FIELDS.items()},
        }
        recipe["model"]["pool"] = pool
        recipe["optimizer"]["warmup_epochs"] = 1  # the papers' one epoch
        data = types.SimpleNamespace(
            task="retrieval" if task in PAIR_TASKS else task,
            num_classes=num_classes,
            input_shape=input_shape,
            vocab_size=vocab_size,
        )
        super().__init__(recipe, data, steps_per_epoch if epochs else None, name="ssm_hypermodel")
        self.fixed = {name: _narrow(name, value) for name, value in fixed.items()}
        self.space = {name: self.fixed.get(name, space) for name, space in SPACE.items()}

    def family_space(self, family):
        return {key: self.fixed.get(key, space) for key, space in FAMILY_SPACE[family].items()}


def best_recipe(recipe, hp_values):
    """The recipe of a trial (`trial_recipe`) without its `tune` section:
    every field of `recipe`, with the values its model was built with (not
    the raw draw), ready for `train`.

    Example:
    >>> recipe = {"epochs": 1, "model": {"layer": "dss", "layer_kwargs": {"variant": "softmax"}},
    ...           "optimizer": {}, "tune": {"discretization": ["zoh", "bilinear"]}}
    >>> best = best_recipe(recipe, {"discretization": "bilinear"})
    >>> "tune" in best, best["model"]["layer_kwargs"]
    (False, {'variant': 'softmax', 'discretization': 'zoh'})
    """
    best = trial_recipe(recipe, hp_values)
    best.pop("tune", None)
    return best


def tune_recipe(recipe, out_path, max_trials=10, directory=None, verbose=1):
    """Runs a RandomSearch over a recipe's `tune` section on its data and
    writes the best recipe to `out_path` (JSON, ready for `train`).

    Each trial is the recipe with its draw written in (`RecipeHyperModel`),
    trained from scratch for the recipe's `epochs` (no `pretrain` stage or
    `warm_start`, which the best recipe keeps).

    Returns the best recipe dict.

    Example:
    >>> import os, tempfile
    >>> from keras_ssm.data import listops
    >>> folder = tempfile.mkdtemp()
    >>> _ = listops.write_dataset(folder, 4, 2, 2, min_length=10, max_length=60)
    >>> recipe = {"epochs": 1, "data": {"task": "listops", "path": folder, "batch_size": 2},
    ...           "model": {"layer": "s4d", "depth": 1, "width": 8}, "tune": {"width": [8, 16]}}
    >>> best = tune_recipe(recipe, os.path.join(folder, "best.json"), max_trials=2, verbose=0)  # doctest: +SKIP
    >>> best["model"]["width"] in (8, 16), "tune" in best  # doctest: +SKIP
    (True, False)
    """
    recipe = recipes.parse_recipe(recipe)
    if recipe.get("distribution"):
        raise ValueError(
            "`distribution`: tuning runs its trials on one device; remove the recipe's "
            "distribution to tune, then add it back to train the best recipe."
        )
    data = recipes.load_data(recipe)
    hypermodel = RecipeHyperModel(recipe, data, int(data.train.cardinality()))
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=max_trials,
        directory=directory or os.path.splitext(out_path)[0] + "_trials",
        project_name=recipe["name"],
        seed=recipe["seed"],
        overwrite=True,
    )
    tuner.search(data.train, validation_data=data.validation, epochs=recipe["epochs"], verbose=verbose)
    trial = tuner.oracle.get_best_trials(1)[0]
    if trial.status != "COMPLETED":  # keras-tuner ranks failed trials last, but returns them
        raise RuntimeError(f"No trial completed; trial {trial.trial_id} failed with:\n{trial.message}")
    best = best_recipe(recipe, trial.hyperparameters.values)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(best, f, indent=2)
    return best
