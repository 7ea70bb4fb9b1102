"""How keras_ssm's layers are sharded on a device mesh's `"model"` axis
(`keras.distribution.ModelParallel`; see `keras_ssm.training.distribution`).

What `layout_map` shards along `"model"`, per block (everything else — the
small per-mode / per-feature vectors Λ, Δ, D, norms, the encoder and the
head — is replicated):

| layer | variables | sharded axis (first that divides the `"model"` size) |
|---|---|---|
| S5 | `B_re/_im (P', H)`, `C_re/_im`, `C_backward_* (H, P')` | the modes `P'`, else `H` |
| S4D | `B_*`, `C_*`, `C_backward_*`, `a_real`, `a_imag` `(H, N/2)` | `H`, else the modes |
| DSS | `W_re/_im`, `W_backward_* (H, N)` | `H`, else `N` |
| block MLP | `gate_kernel`, `value_kernel (H, H)`; `gate_bias`, `value_bias (H,)` | the output `H` |

S5's modes first: its scan is elementwise over the modes, so with B split on
`P'` and C on `P'` each device runs the recurrence of its own modes. S4D's
Λ is `(H, N/2)`, as large as B, and is split with it; each device then
builds the kernels of its own features. When no axis of a layer divides the
`"model"` size, its variables stay replicated (always valid, never wrong).

`keras.distribution.LayoutMap` keys are regular expressions matched with
`re.fullmatch` against `variable.path` (e.g.
`"block_0/s5_layer/B_re"`), so a key must match the whole path: `"dense.*kernel"`
does not match `"sequential/dense/kernel"`, `".*dense.*kernel"` does. The
keys made here look like `"(?:.*/)?s5_layer(?:_\\d+)?/B_re"`.
"""

import contextlib
import random
import re

import keras
import numpy as np

from keras_ssm.layers.block import SEQUENCE_LAYERS, SSMBlock

MODEL_AXIS = "model"

# Per layer class: variable name -> the meaning of each axis ("state": the
# modes, "features": H); and the axes to try, in order.
_SSM_RULES = {
    "S5Layer": (
        {
            **dict.fromkeys(("B_re", "B_im"), ("state", "features")),
            **dict.fromkeys(("C_re", "C_im", "C_backward_re", "C_backward_im"), ("features", "state")),
        },
        ("state", "features"),
    ),
    "S4DLayer": (
        dict.fromkeys(
            ("a_real", "a_imag", "B_re", "B_im", "C_re", "C_im", "C_backward_re", "C_backward_im"),
            ("features", "state"),
        ),
        ("features", "state"),
    ),
    "DSSLayer": (
        dict.fromkeys(("W_re", "W_im", "W_backward_re", "W_backward_im"), ("features", "state")),
        ("features", "state"),
    ),
}
_BLOCK_RULES = {
    "gate_kernel": (None, "features"),
    "value_kernel": (None, "features"),
    "gate_bias": ("features",),
    "value_bias": ("features",),
}


def layout_map(model_or_config, mesh):
    """A `keras.distribution.LayoutMap` for keras_ssm models on `mesh`.

    Shards B and C of the SSM layers and the block MLPs along the mesh's
    `"model"` axis (the table in this module's docstring), choosing for each
    layer an axis whose size the `"model"` axis divides, and leaves every
    other variable replicated. The keys are regular expressions that match
    the variable paths of any model with the same blocks (`block_0`,
    `block_1`, ... and `s5_layer`, `s5_layer_1`, ...).

    Args:
        model_or_config: a keras_ssm model holding `SSMBlock`s (an
            `SSMBackbone`, an `SSMClassifier`, ...), or a config with the
            keys `layer`, `width` and optionally `layer_kwargs`,
            `activation` (a recipe's `model` section; an `SSMBackbone`
            config). A config is laid out from one template block built
            aside: it leaves the random state and the layer names as they
            were.
        mesh: a `keras.distribution.DeviceMesh` with a `"model"` axis.

    Example (device names only: building the map touches no device):
    >>> import keras
    >>> mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], ["cpu:0", "cpu:1"])
    >>> layouts = layout_map({"layer": "s5", "width": 8, "layer_kwargs": {"state_dim": 8},
    ...                       "activation": "half_glu1"}, mesh)
    >>> layouts["block_0/s5_layer/B_re"].axes, layouts["block_3/s5_layer_2/C_im"].axes
    (('model', None), (None, 'model'))
    >>> layouts["block_0/gate_kernel"].axes, layouts["block_0/s5_layer/lambda_re"]
    ((None, 'model'), None)
    """
    if MODEL_AXIS not in mesh.axis_names:
        raise ValueError(f"`mesh` needs a {MODEL_AXIS!r} axis, got axes {list(mesh.axis_names)}.")
    size = mesh.shape[list(mesh.axis_names).index(MODEL_AXIS)]
    if isinstance(model_or_config, keras.Model):
        blocks = _blocks(model_or_config)
        if not blocks:
            raise ValueError(f"`model_or_config`: {model_or_config.name!r} holds no built SSMBlock.")
    elif isinstance(model_or_config, dict):
        blocks = [_template_block(model_or_config)]
    else:
        raise ValueError(
            "`model_or_config` must be a keras_ssm model or a config dict (`layer`, `width`, "
            f"`layer_kwargs`, `activation`), got {type(model_or_config).__name__}."
        )
    layouts = {}
    for block in blocks:
        for key, axes in _block_layouts(block, size).items():
            if layouts.setdefault(key, axes) != axes:
                raise ValueError(
                    f"Blocks of different shapes share the variable pattern {key!r} "
                    f"({layouts[key]} vs {axes}); lay out such a model with your own LayoutMap."
                )
    result = keras.distribution.LayoutMap(mesh)
    for key, axes in layouts.items():
        result[key] = axes
    return result


def _blocks(model):
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, SSMBlock) and layer.built]


def _template_block(config):
    """One built `SSMBlock` of a model config, made without side effects."""
    for key in ("layer", "width"):
        if key not in config:
            raise ValueError(f"`model_or_config` needs `{key}` to lay out the model's variables.")
    if config["layer"] not in SEQUENCE_LAYERS:
        raise ValueError(f"`layer` must be one of {list(SEQUENCE_LAYERS)}, got {config['layer']!r}.")
    # Explicit names (the layers' default ones, e.g. "s5_layer": no auto-name
    # counter moves), the global random states restored, and no distribution
    # while the template variables exist.
    kwargs = config.get("layer_kwargs") or {}
    with _side_effect_free():
        layer = SEQUENCE_LAYERS[config["layer"]](name=f"{config['layer']}_layer", **kwargs)
        block = SSMBlock(layer, activation=config.get("activation", "half_glu1"), norm="layer", name="block")
        block.build((None, None, int(config["width"])))
    return block


@contextlib.contextmanager
def _side_effect_free():
    previous = keras.distribution.distribution()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _block_layouts(block, size):
    """`{regex: axes}` for the shardable variables of one built block."""
    layouts = {}
    features = block.layer.features
    rules, preference = _SSM_RULES.get(type(block.layer).__name__, ({}, ()))
    ssm_vars = [v for v in block.layer.variables if v.name in rules]
    if ssm_vars:
        for choice in preference:
            if all(v.shape[rules[v.name].index(choice)] % size == 0 for v in ssm_vars):
                for v in ssm_vars:
                    layouts[_key(v)] = tuple(MODEL_AXIS if meaning == choice else None for meaning in rules[v.name])
                break
    if features % size == 0:
        for v in block.variables:
            if v.name in _BLOCK_RULES and _owner(v) == block.name:
                layouts[_key(v)] = tuple(MODEL_AXIS if m == "features" else None for m in _BLOCK_RULES[v.name])
    return layouts


def _owner(variable):
    parts = variable.path.split("/")
    return parts[-2] if len(parts) > 1 else ""


def _key(variable):
    """`"(?:.*/)?block(?:_\\d+)?/gate_kernel"` for `.../block_0/gate_kernel`."""
    owner = re.sub(r"_\d+$", "", _owner(variable))
    return rf"(?:.*/)?{re.escape(owner)}(?:_\d+)?/{re.escape(variable.name)}"
