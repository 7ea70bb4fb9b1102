"""AdamW with the SSM papers' parameter groups: `SSMAdamW` and `build_optimizer`.

S4D, S5 and DSS train their SSM parameters (Λ, B, Δ) at their own learning
rate with no weight decay, and every other parameter with AdamW at the main
learning rate and weight decay. The layers mark those parameters
declaratively: `variable.ssm_optimizer = {"learning_rate": "ssm",
"weight_decay": 0.0}` (see `keras_ssm.layers.base.SSMLayer`), and
`SSMAdamW` reads that tag, never variable names.

How the two groups are applied (the same on every backend). Keras'
`Optimizer.apply` runs `_apply_weight_decay(variables)` then
`_backend_update_step(grads, variables, learning_rate)`:

- weight decay: when the optimizer is built, the tagged variables are passed
  to Keras' own `exclude_from_weight_decay(var_list=...)` (together with any
  exclusions the user asked for), so the decoupled decay
  `var ← var − var · weight_decay · learning_rate` only touches the others;
- update: `_backend_update_step` splits the (gradient, variable) pairs into
  the two groups and calls the backend's own implementation once per group,
  with the group's current learning rate (the SSM one evaluated from
  `ssm_learning_rate` at `iterations`, as Keras does for the main one).

So on TensorFlow each group still goes through `tf.distribute`
(`TFOptimizer._backend_update_step`); on JAX the trainer's `stateless_apply`
runs the same code inside a `StatelessScope` (the SSM learning-rate variable
is an ordinary optimizer variable, part of the state); on PyTorch, where
`keras.optimizers.AdamW` is itself swapped for a fused `torch._foreach`
implementation but a subclass would not be, `SSMAdamW` derives from that
fused class directly, so each group takes the fused path.
"""

import numbers

import keras

from keras_ssm.training.schedules import WarmupCosine

_AdamW = keras.optimizers.AdamW
if keras.backend.backend() == "torch":
    try:  # The fused implementation `keras.optimizers.AdamW` runs on torch.
        from keras.src.backend.torch.optimizers.torch_adamw import AdamW as _AdamW
    except ImportError:  # pragma: no cover - another Keras layout
        pass

_Schedule = keras.optimizers.schedules.LearningRateSchedule

# The papers' parameter groups by the role of each SSM variable (`ssm_role`,
# set by the layers): (learning rate, weight decay), "ssm" = the SSM rate,
# "main" = the global one. Roles not listed (C, D, other layers) are in the
# regular group: the main rate with weight decay. S5's `opt_config` names.
GROUPS = {
    # S4, S4D, DSS and S5's default: Λ, B, Δ at the SSM rate without decay.
    "standard": {"Lambda": ("ssm", False), "step": ("ssm", False), "B": ("ssm", False)},
    # S5 (Path-X): B decays too, at the SSM rate.
    "BandCdecay": {"Lambda": ("ssm", False), "step": ("ssm", False), "B": ("ssm", True)},
    # S5 (ListOps, Image): B in the regular group, fast and decayed.
    "BfastandCdecay": {"Lambda": ("ssm", False), "step": ("ssm", False), "B": ("main", True)},
    # S5 (Speech Commands): B, C and D at the SSM rate, none decayed.
    "noBCdecay": {"Lambda": ("ssm", False), "step": ("ssm", False), "B": ("ssm", False),
                  "C": ("ssm", False), "D": ("ssm", False)},
}
# Where the step Δ goes: its group above ("ssm"), the global rate without
# decay ("global", S4's Δ hook with no rate of its own), or the regular group
# ("global_decay", S5's `dt_global`).
STEP_GROUPS = {"ssm": None, "global": ("main", False), "global_decay": ("main", True)}


def _ssm_tag(variable):
    """The variable's `ssm_optimizer` tag (a dict), or None when untagged."""
    tag = getattr(variable, "ssm_optimizer", None)
    if not tag:
        return None
    if not isinstance(tag, dict):
        raise ValueError(f"`ssm_optimizer` of {_describe(variable)} must be a dict, got {tag!r}.")
    unknown = set(tag) - {"learning_rate", "weight_decay"}
    if unknown or tag.get("learning_rate", "ssm") != "ssm" or tag.get("weight_decay", 0.0):
        raise ValueError(
            f"SSMAdamW supports the tag {{'learning_rate': 'ssm', 'weight_decay': 0.0}} "
            f"(the SSM learning rate, no weight decay); {_describe(variable)} has {tag!r}."
        )
    return tag


def _describe(variable):
    return f"variable {getattr(variable, 'path', getattr(variable, 'name', variable))!r}"


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMAdamW(_AdamW):
    """AdamW with a second parameter group for the SSM parameters (S4D/S5/DSS recipe).

    The S4D, S5 and DSS papers train the SSM parameters — Λ, B and the step
    Δ — with Adam at their own, usually smaller, learning rate `ssm_lr` and no
    weight decay, and all other parameters (C, D, the encoders, ...) with
    AdamW at `lr` with weight decay; both rates follow the same warmup +
    cosine schedule (`keras_ssm.training.WarmupCosine`,
    `keras_ssm.training.build_optimizer`).

    Variables carrying an `ssm_optimizer` tag (set by the keras_ssm layers on
    their SSM parameters; `layer.ssm_variables` lists them) are updated by
    Adam at `ssm_learning_rate` and excluded from weight decay; every other
    variable is updated exactly as by `keras.optimizers.AdamW` with
    `learning_rate` and `weight_decay`. Both groups share the step count,
    `beta_1`, `beta_2`, `epsilon`, `amsgrad` and gradient clipping.

    `groups` places each keras_ssm variable by its role (`ssm_role`: Λ, B,
    the step Δ, C, D) as the papers' configurations do (`GROUPS`: S5's
    `standard`, `BandCdecay`, `BfastandCdecay`, `noBCdecay`), and `dt` moves
    the step (`STEP_GROUPS`: S5's `dt_global`, S4's Δ at the global rate).
    Weight decay is decoupled at each variable's own rate, as optax's
    `adamw(ssm_lr, wd)` for B under `BandCdecay`.

    Args:
        learning_rate: float, `LearningRateSchedule` or zero-argument
            callable: the rate of the non-SSM variables.
        ssm_learning_rate: float, `LearningRateSchedule` or zero-argument
            callable: the rate of the tagged SSM variables.
        weight_decay: the decoupled weight decay of the non-SSM variables
            (`var ← var − var · weight_decay · learning_rate` each step).
        groups: a key of `GROUPS` (default `"standard"`).
        dt: a key of `STEP_GROUPS` (default `"ssm"`).
        **kwargs: any other `keras.optimizers.AdamW` argument (`beta_1`,
            `beta_2`, `epsilon`, `amsgrad`, `clipnorm`, `global_clipnorm`,
            `gradient_accumulation_steps`, `name`, ...).

    `exclude_from_weight_decay` (before the optimizer is built) still works
    for the other variables, e.g. `var_names=["bias"]`; the SSM variables are
    excluded in addition. Import `keras_ssm.training` before
    `keras.models.load_model` of a model compiled with this optimizer.

    Example:
    >>> import keras, keras_ssm
    >>> from keras_ssm.training import SSMAdamW
    >>> model = keras.Sequential([
    ...     keras.Input((6, 4)),
    ...     keras_ssm.S4DLayer(state_dim=8, seed=0),
    ...     keras.layers.Dense(1),
    ... ])
    >>> optimizer = SSMAdamW(learning_rate=4e-3, ssm_learning_rate=1e-3, weight_decay=0.05)
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> optimizer.build(model.trainable_variables)  # or let the first fit() build it
    >>> sorted(v.name for v in optimizer.ssm_variables)
    ['B_im', 'B_re', 'a_imag', 'a_real', 'log_dt']
    >>> round(float(optimizer.ssm_learning_rate), 6)
    0.001
    """

    def __init__(self, learning_rate=0.001, ssm_learning_rate=0.001, weight_decay=0.004, groups="standard",
                 dt="ssm", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        if groups not in GROUPS:
            raise ValueError(f"`groups` must be one of {list(GROUPS)}, got {groups!r}.")
        if dt not in STEP_GROUPS:
            raise ValueError(f"`dt` must be one of {list(STEP_GROUPS)}, got {dt!r}.")
        self.groups, self.dt = groups, dt
        self._user_exclusions = None  # (variable keys, names) given before build
        self._ssm_keys = frozenset()
        self._ssm_decay_keys = frozenset()  # SSM-rate variables that decay (at that rate)
        if isinstance(ssm_learning_rate, _Schedule) or (
            callable(ssm_learning_rate) and not isinstance(ssm_learning_rate, keras.Variable)
        ):
            self._ssm_learning_rate = ssm_learning_rate
        else:
            if not isinstance(ssm_learning_rate, numbers.Real) or isinstance(ssm_learning_rate, bool):
                raise ValueError(
                    "`ssm_learning_rate` must be a float, a LearningRateSchedule or a callable "
                    f"taking no argument; got {ssm_learning_rate!r}."
                )
            with keras.name_scope(self.name, caller=self):
                # An optimizer variable like Keras' `learning_rate`: settable,
                # saved with the optimizer, part of the JAX stateless state.
                self._ssm_learning_rate = keras.Variable(
                    float(ssm_learning_rate),
                    name="ssm_learning_rate",
                    dtype=keras.backend.floatx(),
                    trainable=False,
                    aggregation="only_first_replica",
                )

    # -- the SSM learning rate -------------------------------------------

    @property
    def ssm_learning_rate(self):
        """The current SSM learning rate (evaluated at `iterations`)."""
        return self._get_current_ssm_learning_rate()

    @ssm_learning_rate.setter
    def ssm_learning_rate(self, value):
        if isinstance(value, _Schedule) or callable(value):
            if isinstance(self._ssm_learning_rate, keras.Variable):
                previous = self._ssm_learning_rate
                self._ssm_learning_rate = value
                self._untrack_variable(previous)
            else:
                self._ssm_learning_rate = value
        elif isinstance(self._ssm_learning_rate, keras.Variable):
            self._ssm_learning_rate.assign(value)
        else:
            raise TypeError(
                "This optimizer was created with a schedule or callable `ssm_learning_rate`, "
                "so it cannot be set to a number."
            )

    def _get_current_ssm_learning_rate(self):
        rate = self._ssm_learning_rate
        if isinstance(rate, _Schedule):
            return rate(self._iterations)
        if isinstance(rate, keras.Variable):
            return rate
        return rate()

    # -- the groups ---------------------------------------------------------

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        # Remembered, so that `build` adds the SSM variables to these
        # exclusions instead of replacing them.
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer is built."
            )
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        keys = frozenset(self._var_key(v) for v in var_list or ())
        self._user_exclusions = (keys, tuple(var_names or ()))

    def placement(self, variable):
        """`(rate, decays)` of a variable: `"ssm"` or `"main"`, and whether it decays."""
        tag = _ssm_tag(variable)  # a tag changed by hand is checked, whatever the role
        role = getattr(variable, "ssm_role", None)
        if role is not None:
            if role == "step" and STEP_GROUPS[self.dt] is not None:
                return STEP_GROUPS[self.dt]
            return GROUPS[self.groups].get(role, ("main", True))
        if tag is not None:  # a tag set by hand
            return ("ssm", False)
        return ("main", True)

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        placed = [(v, *self.placement(v)) for v in var_list]
        user_keys, user_names = self._user_exclusions or (frozenset(), ())
        # Keras' own decay (at the main rate) skips the SSM-rate and the non-decaying variables.
        excluded = [v for v, rate, decays in placed if rate == "ssm" or not decays]
        excluded += [v for v in var_list if self._var_key(v) in user_keys]
        super().exclude_from_weight_decay(var_list=excluded, var_names=list(user_names) or None)
        self._ssm_keys = frozenset(self._var_key(v) for v, rate, _ in placed if rate == "ssm")
        self._ssm_decay_keys = frozenset(
            self._var_key(v) for v, rate, decays in placed if rate == "ssm" and decays
            and self._var_key(v) not in user_keys
        )
        super().build(var_list)

    def _is_ssm(self, variable):
        return self._var_key(variable) in self._ssm_keys

    @property
    def ssm_variables(self):
        """The variables (of those the optimizer was built with) in the SSM group."""
        return [v for v in self._trainable_variables if self._is_ssm(v)]

    def _apply_weight_decay(self, variables):
        # Only the variables that decay (torch's fused decay fails on an
        # empty list, e.g. when every variable is an SSM parameter).
        if self.weight_decay is None:
            return
        decayed = [v for v in variables if self._use_weight_decay(v)]
        if decayed:
            super()._apply_weight_decay(decayed)
        ssm_decayed = [v for v in variables if self._var_key(v) in self._ssm_decay_keys]
        if ssm_decayed:  # decoupled decay at the SSM rate
            rate = self._get_current_ssm_learning_rate()
            for v in ssm_decayed:
                factor = keras.ops.cast(rate, v.dtype) * keras.ops.cast(self.weight_decay, v.dtype)
                v.assign(v - v * factor)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        groups = ([], []), ([], [])  # (grads, variables) of the main and SSM groups
        for grad, variable in zip(grads, trainable_variables):
            group = groups[1] if self._is_ssm(variable) else groups[0]
            group[0].append(grad)
            group[1].append(variable)
        (main_grads, main_vars), (ssm_grads, ssm_vars) = groups
        if main_vars:
            super()._backend_update_step(main_grads, main_vars, learning_rate)
        if ssm_vars:
            super()._backend_update_step(ssm_grads, ssm_vars, self._get_current_ssm_learning_rate())

    # -- serialization ------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        rate = self._ssm_learning_rate
        if isinstance(rate, _Schedule):
            rate = keras.optimizers.schedules.serialize(rate)
        elif isinstance(rate, keras.Variable):
            rate = float(keras.ops.convert_to_numpy(rate.value))
        else:
            rate = keras.saving.serialize_keras_object(rate)
        config["ssm_learning_rate"] = rate
        config.update(groups=self.groups, dt=self.dt)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("ssm_learning_rate"), dict):
            config["ssm_learning_rate"] = keras.saving.deserialize_keras_object(
                config["ssm_learning_rate"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)


def build_optimizer(lr, ssm_lr, weight_decay, warmup_steps, total_steps, lr_min=0.0, **kwargs):
    """The papers' optimizer: `SSMAdamW` with both rates on one warmup + cosine schedule.

    S4D, S5 and DSS train the SSM parameters (Λ, B, Δ) at `ssm_lr` with no
    weight decay and the rest with AdamW at `lr` and `weight_decay`; both
    rates warm up linearly for `warmup_steps` optimizer steps and then follow
    a cosine to `lr_min` over the remaining `total_steps - warmup_steps`
    steps (`WarmupCosine`; S5's `linear_warmup` + `cosine_annealing`).

    Args:
        lr: peak learning rate of the non-SSM parameters.
        ssm_lr: peak learning rate of the SSM parameters.
        weight_decay: AdamW weight decay of the non-SSM parameters.
        warmup_steps: linear warmup length, in optimizer steps (may be 0).
        total_steps: total training steps (> `warmup_steps`), e.g.
            `epochs * steps_per_epoch`.
        lr_min: the final learning rate of both schedules (default 0).
        **kwargs: passed on to `SSMAdamW` (`beta_1`, `epsilon`, `clipnorm`...).

    Returns:
        An `SSMAdamW` with two `WarmupCosine` schedules.

    Example:
    >>> from keras_ssm.training import build_optimizer
    >>> optimizer = build_optimizer(lr=4e-3, ssm_lr=1e-3, weight_decay=0.05,
    ...                             warmup_steps=100, total_steps=1000)
    >>> type(optimizer).__name__, optimizer.weight_decay
    ('SSMAdamW', 0.05)
    >>> round(float(optimizer.learning_rate), 8), round(float(optimizer.ssm_learning_rate), 8)
    (4e-05, 1e-05)
    """
    if not isinstance(total_steps, numbers.Integral) or isinstance(total_steps, bool):
        raise ValueError(f"`total_steps` must be an integer, got {total_steps!r}.")
    if not isinstance(warmup_steps, numbers.Integral) or isinstance(warmup_steps, bool):
        raise ValueError(f"`warmup_steps` must be an integer, got {warmup_steps!r}.")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"Expected 0 <= `warmup_steps` < `total_steps`, got warmup_steps={warmup_steps}, "
            f"total_steps={total_steps}."
        )
    decay_steps = int(total_steps) - int(warmup_steps)
    # `groups` / `dt` (the papers' parameter groups) pass through **kwargs.
    return SSMAdamW(
        learning_rate=WarmupCosine(lr, warmup_steps, decay_steps, end=lr_min),
        ssm_learning_rate=WarmupCosine(ssm_lr, warmup_steps, decay_steps, end=lr_min),
        weight_decay=weight_decay,
        **kwargs,
    )
