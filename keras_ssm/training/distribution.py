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

What is sharded along `"model"` (B and C of the SSM layers, the block MLPs)
is `keras_ssm.layers.layout_map`'s table.

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

import keras

from keras_ssm.layers.layout_map import MODEL_AXIS, layout_map

TYPES = ("data_parallel", "model_parallel")
FIELDS = ("type", "mesh")
BATCH_AXIS = "batch"

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

