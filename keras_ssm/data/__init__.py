"""Input pipelines of the papers' tasks, and the LRA synthetic-task generators.

`load(task, data_dir, **options)` returns a `TaskData`: `train`,
`validation` and `test` `tf.data.Dataset`s of `(inputs, labels)` batches
(they feed `model.fit` on JAX, TensorFlow and PyTorch alike) plus the
metadata a recipe needs (`num_classes`, `labels`, `input_shape`,
`vocab_size`, `max_length`, `num_examples`).

| task | loader | inputs per batch |
|---|---|---|
| `listops` | `load_listops` | int32 `(B, L)` tokens, L <= 2048, vocab 18 |
| `text` | `load_text` | int32 `(B, L)` bytes + 1, L <= 4096, vocab 257 |
| `retrieval` | `load_retrieval` | pair of int32 `(B, L)`, L <= 4000 |
| `image` | `load_image` | float32 `(B, 1024, 1)` grayscale CIFAR-10 |
| `pathfinder`, `pathx` | `load_pathfinder` | float32 `(B, size**2, 1)` |
| `sc35`, `sc10`, `sc12` | `load_speech_commands` | float32 `(B, rate, 1)` raw audio |
| `fsdd` | `load_spoken_digits` | float32 `(B, L, 1)` raw audio, padded |

Token id 0 is always padding (`keras.layers.Embedding(mask_zero=True)`
gives the mask); variable-length tasks are bucketed by length.

Generators (deterministic for a seed, LRA on-disk layouts):
`python -m keras_ssm.data.listops --out DIR` and
`python -m keras_ssm.data.pathfinder --out DIR --size 32`.

Nothing here downloads: each loader reads a local folder and, when it is
missing, says which layout it expects and where the data comes from.
"""

import importlib

from keras_ssm.data.base import TaskData

# Loaders are imported on first use: `python -m keras_ssm.data.listops` (and
# .pathfinder) must not find its own module already imported by the package.
_LOADERS = {
    "load_listops": "listops",
    "load_text": "text",
    "load_retrieval": "retrieval",
    "load_image": "image",
    "load_pathfinder": "pathfinder",
    "load_speech_commands": "speech",
    "load_spoken_digits": "speech",
    "resample": "speech",
}

# task name -> (loader name, the options the task name implies)
TASKS = {
    "listops": ("load_listops", {}),
    "text": ("load_text", {}),
    "imdb": ("load_text", {}),
    "retrieval": ("load_retrieval", {}),
    "aan": ("load_retrieval", {}),
    "image": ("load_image", {}),
    "cifar10": ("load_image", {}),
    "pathfinder": ("load_pathfinder", {}),
    "pathfinder32": ("load_pathfinder", {"size": 32}),
    "pathfinder64": ("load_pathfinder", {"size": 64}),
    "pathfinder128": ("load_pathfinder", {"size": 128}),
    "pathx": ("load_pathfinder", {"size": 128}),
    "speech_commands": ("load_speech_commands", {}),
    "sc35": ("load_speech_commands", {"classes": 35}),
    "sc10": ("load_speech_commands", {"classes": 10}),
    "sc12": ("load_speech_commands", {"classes": 12}),
    "fsdd": ("load_spoken_digits", {}),
    "spoken_digits": ("load_spoken_digits", {}),
}


def __getattr__(name):
    if name in _LOADERS:
        return getattr(importlib.import_module(f"keras_ssm.data.{_LOADERS[name]}"), name)
    raise AttributeError(f"module 'keras_ssm.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LOADERS))


def load(task, data_dir, **options):
    """Loads a task's train / validation / test datasets from a local folder.

    Args:
        task: one of `TASKS` (e.g. `"listops"`, `"text"`, `"retrieval"`,
            `"image"`, `"pathfinder"`, `"pathx"`, `"sc35"`, `"sc10"`,
            `"sc12"`, `"fsdd"`).
        data_dir: the folder holding the task's data in one of its
            canonical layouts (see each loader).
        **options: passed to the task's loader (`batch_size`, `seed`,
            `max_length`, `sample_rate`, ...). The options a task name
            implies (e.g. `pathx` -> `size=128`) can be overridden.

    Returns:
        `TaskData` with `train`, `validation`, `test` datasets and metadata.

    >>> import tempfile
    >>> from keras_ssm.data import listops
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = listops.write_dataset(folder.name, 4, 2, 2, min_length=10, max_length=60)
    >>> data = load("listops", folder.name, batch_size=2)
    >>> data.num_classes, data.vocab_size, data.num_examples
    (10, 18, {'train': 4, 'validation': 2, 'test': 2})
    >>> folder.cleanup()
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}.")
    loader, implied = TASKS[task]
    return __getattr__(loader)(data_dir, **{**implied, **options})


__all__ = [
    "TASKS",
    "TaskData",
    "load",
    "load_image",
    "load_listops",
    "load_pathfinder",
    "load_retrieval",
    "load_speech_commands",
    "load_spoken_digits",
    "load_text",
    "resample",
]
