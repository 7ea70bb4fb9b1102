"""Training on several devices and hosts with `keras.distribution` (JAX).

keras_ssm does not distribute anything itself: Keras 3's `keras.distribution`
does (on the JAX backend it is JAX's SPMD sharding: every variable and batch
is a `jax.Array` with a `NamedSharding`, and XLA inserts the collectives).
This module only turns a recipe's setting into a Keras `Distribution` and
says how keras_ssm models should be sharded:

- `{"type": "data_parallel"}`: `keras.distribution.DataParallel` over every
  device (`keras.distribution.list_devices()`, all hosts' devices after
  `keras.distribution.initialize`); variables replicated, each batch split
  along its first axis.
- `{"type": "model_parallel", "mesh": [batch, model]}`:
  `keras.distribution.ModelParallel` on a `DeviceMesh` of that shape with
  axes `("batch", "model")` (`batch * model` must be the number of
  devices): batches split along `"batch"`, and the variables named by
  `layout_map` split along `"model"` (for a built backbone, its own
  `SSMBackbone.get_layout_map(mesh)`, as keras-hub's backbones have).

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

Use: build (or load) the model inside `with distribution.scope():` (or
after `keras.distribution.set_distribution`) so its variables get their
layouts; a model built outside a distribution does not run inside one
(JAX: "incompatible devices for jitted computation"). `.keras` checkpoints
hold plain arrays: saved under a distribution they load on one device, and
a single-device checkpoint loaded inside a scope is laid out by it.

Several processes (hosts): `keras.distribution.initialize(job_addresses=
"HOST0:PORT", num_processes=N, process_id=i)` in every process before JAX
computes anything; then the same code (see `examples/distributed.py`).
Feed `tf.data` datasets (Keras gives each process its part of every global
batch), and call `model.save` in every process (process 0's file is the one
to keep: with the variables replicated each process writes the whole
model; a save in process 0 alone hangs). Measured with Keras 3.15 / JAX on
CPU: `predict` fails across processes (its outputs cannot be fetched), and
with the `"model"` axis spanning processes `fit` runs but `.keras` saving
fails (a process cannot fetch the other's shards) — keep the `"model"` axis
within a host.

Other backends: Keras's TensorFlow backend runs `fit` under a
`tf.distribute` strategy (`tf.distribute.MirroredStrategy`) and PyTorch
under `torch.nn.parallel.DistributedDataParallel` in a custom loop; neither
is `keras.distribution`, and keras_ssm does not drive them:
`make_distribution` refuses there (a `ValueError` naming `distribution`).
"""

import contextlib
import random
import re

import keras
import numpy as np

TYPES = ("data_parallel", "model_parallel")
FIELDS = ("type", "mesh")
BATCH_AXIS, MODEL_AXIS = "batch", "model"

_OTHER_BACKENDS = (
    "keras.distribution runs on the JAX backend only (KERAS_BACKEND=jax). Keras's "
    "TensorFlow backend distributes `fit` with tf.distribute (e.g. "
    "tf.distribute.MirroredStrategy over the GPUs of one machine), and PyTorch with "
    "torch.nn.parallel.DistributedDataParallel in a custom training loop; keras_ssm's "
    "recipes do not drive those: train distributed on the JAX backend, or drop "
    "`distribution` to train on one device."
)


def check_setting(setting):
    """Checks a distribution setting and returns it normalized.

    `setting` is a recipe's `distribution` section: `{"type": "data_parallel"}`
    or `{"type": "model_parallel", "mesh": [batch, model]}`. Every problem
    is a `ValueError` naming the field. Runs on every backend (it does not
    look at the devices).

    Example:
    >>> check_setting({"type": "model_parallel", "mesh": [1, 2]})
    {'type': 'model_parallel', 'mesh': [1, 2]}
    >>> check_setting({"type": "model_parallel", "mesh": [2]})
    Traceback (most recent call last):
    ...
    ValueError: Recipe field `distribution.mesh` must be two positive integers [batch, model] (the device mesh of model_parallel), got [2].
    """
    if not isinstance(setting, dict):
        raise ValueError(
            "Recipe field `distribution` must be an object such as "
            f'{{"type": "data_parallel"}}, got {setting!r}.'
        )
    unknown = sorted(set(setting) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"Unknown recipe field `distribution.{unknown[0]}`; the fields of `distribution` "
            f"are {sorted(FIELDS)}."
        )
    kind = setting.get("type")
    if kind is None:
        raise ValueError(f"The recipe needs `distribution.type`, one of {list(TYPES)}.")
    if kind not in TYPES:
        raise ValueError(f"Recipe field `distribution.type` must be one of {list(TYPES)}, got {kind!r}.")
    mesh = setting.get("mesh")
    if kind == "data_parallel":
        if mesh is not None:
            raise ValueError(
                "Recipe field `distribution.mesh` is for model_parallel; data_parallel "
                "splits the batch over every device (one 'batch' axis)."
            )
        return {"type": kind}
    if mesh is None:
        raise ValueError(
            "The recipe needs `distribution.mesh` for model_parallel: [batch, model], "
            "e.g. [1, 2] (batch * model = the number of devices)."
        )
    if (
        not isinstance(mesh, (list, tuple))
        or len(mesh) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in mesh)
    ):
        raise ValueError(
            "Recipe field `distribution.mesh` must be two positive integers [batch, model] "
            f"(the device mesh of model_parallel), got {mesh!r}."
        )
    return {"type": kind, "mesh": list(mesh)}


def make_distribution(setting, model=None):
    """The `keras.distribution.Distribution` of a setting (not yet applied).

    Apply it before the model is built, with
    `keras.distribution.set_distribution(d)` or `with d.scope():` (the
    recipe's `train` does the latter), so that the variables are created
    with their layouts.

    Args:
        setting: `{"type": "data_parallel"}` or
            `{"type": "model_parallel", "mesh": [batch, model]}` (see
            `check_setting`).
        model: for model_parallel, what `layout_map` needs: a keras_ssm
            model, or its config (a recipe's `model` section or an
            `SSMBackbone` config).

    Returns:
        `keras.distribution.DataParallel` over every device, or
        `keras.distribution.ModelParallel` with `layout_map(model, mesh)`.

    Raises:
        ValueError naming `distribution` (or its field): a bad setting, a
        backend other than JAX, fewer than 2 devices for data_parallel, a
        mesh that does not match the number of devices.

    Example (the checks come first, on every backend):
    >>> make_distribution({"type": "pipeline_parallel"})
    Traceback (most recent call last):
    ...
    ValueError: Recipe field `distribution.type` must be one of ['data_parallel', 'model_parallel'], got 'pipeline_parallel'.
    """
    setting = check_setting(setting)
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"Recipe field `distribution` ({setting['type']}) is not supported on the "
            f"{keras.backend.backend()} backend: {_OTHER_BACKENDS}"
        )
    devices = keras.distribution.list_devices()
    if setting["type"] == "data_parallel":
        if len(devices) < 2:
            raise ValueError(
                f"Recipe field `distribution`: data_parallel needs at least 2 devices; JAX sees "
                f"{len(devices)} ({', '.join(devices)}). On one CPU host, "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N gives N CPU devices; "
                "or drop `distribution` to train on one device."
            )
        return keras.distribution.DataParallel(devices=devices)
    shape = tuple(setting["mesh"])
    if shape[0] * shape[1] != len(devices):
        raise ValueError(
            f"Recipe field `distribution.mesh` {list(shape)} needs {shape[0] * shape[1]} devices "
            f"(batch * model); JAX sees {len(devices)} ({', '.join(devices)})."
        )
    if model is None:
        raise ValueError(
            "model_parallel (`distribution.mesh`) needs the model or its config to lay out "
            "its variables: make_distribution(setting, model=...)."
        )
    mesh = keras.distribution.DeviceMesh(shape, [BATCH_AXIS, MODEL_AXIS], devices)
    return keras.distribution.ModelParallel(layout_map=layout_map(model, mesh), batch_dim_name=BATCH_AXIS)


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
    from keras_ssm.layers.block import SSMBlock

    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, SSMBlock) and layer.built]


def _template_block(config):
    """One built `SSMBlock` of a model config, made without side effects."""
    from keras_ssm.layers.block import SEQUENCE_LAYERS, SSMBlock

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


def describe(distribution):
    """A short description, e.g. `"data_parallel over 2 devices (mesh batch=2)"`.

    Example:
    >>> describe(None)
    'one device (no distribution)'
    """
    if distribution is None:
        return "one device (no distribution)"
    mesh = distribution.device_mesh
    kind = "data_parallel" if isinstance(distribution, keras.distribution.DataParallel) else "model_parallel"
    axes = ", ".join(f"{name}={n}" for name, n in zip(mesh.axis_names, mesh.shape))
    return f"{kind} over {mesh.devices.size} devices (mesh {axes})"

