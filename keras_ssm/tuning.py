"""keras-tuner search over the SSM design space.

`SSMHyperModel` builds a compiled `SSMClassifier` from a `keras_tuner`
`HyperParameters` draw covering the choices the papers ablate: the layer
family, depth, width, state size, S5's block count, the initialisation of
each family (S4D's LegS / Inv / Lin / random study), the discretization, the
step range, bidirectionality, normalization, activation, dropout and the two
learning rates of the papers' optimizer.
"""

import os

import keras
import keras_tuner

from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier
from keras_ssm.training import SSMAdamW, build_optimizer

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
# Per family, drawn only when that family is chosen.
FAMILY_SPACE = {
    "s4d": {"init": ["legs", "inv", "lin", "random"], "real_transform": ["exp"]},
    "dss": {"init": ["skew_hippo", "random"], "variant": ["exp", "softmax"]},
    "s5": {
        "blocks": [1, 2, 4, 8],
        "c_init": ["trunc_standard", "lecun", "complex_normal"],
        "clip_eigs": [False],
    },
}
MODEL_KEYS = ("layer", "depth", "width", "norm", "prenorm", "activation", "dropout", "pooling")
LAYER_KEYS = ("state_dim", "discretization", "dt_min", "dt_max", "bidirectional")
OPTIMIZER_KEYS = ("lr", "ssm_lr", "weight_decay")
# Tasks whose examples are document pairs (SSMRetrievalClassifier).
PAIR_TASKS = ("retrieval", "aan")


def layer_arguments(values):
    """The SSM layer arguments a draw builds, made valid: DSS-softmax runs ZOH
    only, and S5 falls back to one block when `blocks` would not leave an
    even number of states per block (conjugate pairs).

    Args:
        values: hyperparameter values by name, the family's prefixed with it
            (`"s5_blocks"`), as in `HyperParameters.values`.

    Returns:
        the layer's keyword arguments, what the model is built with (and what
        `best_recipe` records).
    """
    family = values["layer"]
    kwargs = {k: values[k] for k in LAYER_KEYS}
    for key in FAMILY_SPACE[family]:
        kwargs[key] = values[f"{family}_{key}"]
    if family == "dss" and kwargs["variant"] == "softmax":
        kwargs["discretization"] = "zoh"  # the softmax kernel is defined for ZOH
    if family == "s5":
        per_block, rest = divmod(kwargs["state_dim"], kwargs["blocks"])
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


class SSMHyperModel(keras_tuner.HyperModel):
    """A compiled SSM classifier per trial (logits out, `accuracy` metric).

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
        super().__init__(name="ssm_hypermodel")
        if (input_shape is None) == (vocab_size is None):
            raise ValueError("Give exactly one of `input_shape` (continuous inputs) or `vocab_size` (tokens).")
        if task in PAIR_TASKS and vocab_size is None:
            raise ValueError(f"`task={task!r}` classifies pairs of token documents: give `vocab_size`.")
        known = set(SPACE) | {k for family in FAMILY_SPACE.values() for k in family}
        unknown = sorted(set(fixed) - known)
        if unknown:
            raise ValueError(f"Unknown hyperparameter `{unknown[0]}`; the space has {sorted(known)}.")
        self.num_classes = num_classes
        self.input_shape = input_shape
        self.vocab_size = vocab_size
        self.task = task
        self.pool = pool
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.fixed = {name: _narrow(name, value) for name, value in fixed.items()}

    def _space(self, name, default):
        return self.fixed.get(name, default)

    def build(self, hp):
        v = {name: _declare(hp, name, self._space(name, space)) for name, space in SPACE.items()}
        family = v["layer"]
        with hp.conditional_scope("layer", [family]):
            for name, space in FAMILY_SPACE[family].items():
                v[f"{family}_{name}"] = _declare(hp, f"{family}_{name}", self._space(name, space))
        layer_kwargs = layer_arguments(v)
        inputs = {"vocab_size": self.vocab_size} if self.vocab_size else {"input_dim": self.input_shape[-1]}
        backbone = SSMBackbone(
            family,
            depth=v["depth"],
            width=v["width"],
            layer_kwargs=layer_kwargs,
            norm=v["norm"],
            prenorm=v["prenorm"],
            activation=v["activation"],
            dropout=v["dropout"],
            pool=self.pool,
            **inputs,
        )
        if self.task in PAIR_TASKS:  # as keras_ssm.training.recipe.build_model
            model = SSMRetrievalClassifier(backbone, num_classes=self.num_classes)
        else:
            model = SSMClassifier(backbone, self.num_classes, pooling=v["pooling"])
        model.compile(
            optimizer=self._optimizer(v["lr"], v["ssm_lr"], v["weight_decay"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    def _optimizer(self, lr, ssm_lr, weight_decay):
        if self.steps_per_epoch and self.epochs:
            total = self.steps_per_epoch * self.epochs
            return build_optimizer(lr, ssm_lr, weight_decay, min(self.steps_per_epoch, total - 1), total)
        return SSMAdamW(learning_rate=lr, ssm_learning_rate=ssm_lr, weight_decay=weight_decay)


def _space_from_json(name, spec):
    """A recipe's `tune` entry: a list of choices or `{"min": a, "max": b}`."""
    if isinstance(spec, list) and spec:
        return spec
    if isinstance(spec, dict) and set(spec) == {"min", "max"}:
        return (spec["min"], spec["max"])
    raise ValueError(f"Recipe field `tune.{name}` must be a list of choices or {{\"min\": a, \"max\": b}}, got {spec!r}.")


def recipe_space(recipe):
    """The hyperparameters of a parsed recipe: its values, fixed, except those
    its `tune` section opens to a search."""
    model, optimizer = recipe["model"], recipe["optimizer"]
    known = set(SPACE) | {k for family in FAMILY_SPACE.values() for k in family}
    values = {k: model[k] for k in MODEL_KEYS}
    values.update({k: optimizer[k] for k in OPTIMIZER_KEYS})
    for key, value in model["layer_kwargs"].items():
        if key not in known:
            raise ValueError(
                f"`model.layer_kwargs.{key}` is not in the tuning space {sorted(known)}; remove it to tune."
            )
        values[key] = value
    for name, spec in recipe["tune"].items():
        if name not in known:
            raise ValueError(f"Unknown hyperparameter `tune.{name}`; the space has {sorted(known)}.")
        values[name] = _space_from_json(name, spec)
    return values


def best_recipe(recipe, hp_values):
    """The recipe with the best trial's hyperparameters filled in (no `tune`):
    the values its model was built with (`layer_arguments`), not the raw draw."""
    best = {k: v for k, v in recipe.items() if k not in ("tune", "distribution")}
    best["model"] = {k: hp_values[k] for k in MODEL_KEYS}
    if recipe["model"].get("pool") is not None:
        best["model"]["pool"] = recipe["model"]["pool"]
    best["model"]["layer_kwargs"] = layer_arguments(hp_values)
    best["optimizer"] = dict(recipe["optimizer"], **{k: hp_values[k] for k in OPTIMIZER_KEYS})
    return best


def tune_recipe(recipe, out_path, max_trials=10, directory=None, verbose=1):
    """Runs a RandomSearch over a recipe's `tune` section on its data and
    writes the best recipe to `out_path` (JSON, ready for `train`).

    Returns the best recipe dict.
    """
    import json

    from keras_ssm.training import recipe as recipes

    recipe = recipes.parse_recipe(recipe)
    if recipe.get("distribution"):
        raise ValueError(
            "`distribution`: tuning runs its trials on one device; remove the recipe's "
            "distribution to tune, then add it back to train the best recipe."
        )
    data = recipes.load_data(recipe)
    steps = int(data.train.cardinality())
    inputs = {"vocab_size": data.vocab_size} if data.vocab_size else {"input_shape": data.input_shape}
    hypermodel = SSMHyperModel(
        data.num_classes,
        task=data.task,
        pool=recipe["model"]["pool"],
        steps_per_epoch=steps,
        epochs=recipe["epochs"],
        **inputs,
        **recipe_space(recipe),
    )
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
