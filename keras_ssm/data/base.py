"""What every task loader returns, and the checks and splits they share.

`TaskData` is the one object a loader hands back: three `tf.data` datasets of
`(inputs, labels)` batches plus what a training recipe needs to build a model
(number of classes, vocabulary size or input shape, class names, length).
The helpers here give every loader the same error messages and the same
deterministic, seeded splits.
"""

import dataclasses
import os

import numpy as np

from keras_ssm.validation import (  # noqa: F401 (the loaders import them from here)
    check_choice,
    check_non_negative_int,
    check_positive_int,
)


@dataclasses.dataclass
class TaskData:
    """The train / validation / test datasets of one task, with its metadata.

    Each dataset yields `(inputs, labels)` batches ready for `model.fit`;
    `labels` is int32 `(batch,)`. `inputs` is, per task:

    - token tasks (listops, text): int32 `(batch, length)`, 0 = padding
      (`keras.layers.Embedding(vocab_size, d, mask_zero=True)` gives the mask);
    - retrieval: a pair `(doc1, doc2)` of such arrays;
    - image, pathfinder, speech: float32 `(batch, length, 1)`;
    - with `return_mask=True` (variable-length audio): `(audio, mask)` with
      `mask` bool `(batch, length)`, True at real samples.

    Attributes:
        task: task name, e.g. `"listops"`.
        train, validation, test: `tf.data.Dataset`s of batches (the training
            one reshuffled every epoch, deterministically from `seed`).
        num_classes: number of output classes.
        labels: class names, in output order.
        input_shape: shape of one example's inputs without the batch axis
            (`(None,)` for padded token sequences; `((None,), (None,))` for
            retrieval pairs).
        input_dtype: `"int32"` or `"float32"`.
        vocab_size: number of token ids including padding id 0 (token tasks),
            else None.
        max_length: the longest sequence a batch can hold.
        num_examples: `{"train": n, "validation": n, "test": n}`.
        info: source folder and layout, preprocessing, vocabulary, sample rate.

    `data["train"]` works as well as `data.train`.

    Example:
    >>> import tempfile
    >>> from keras_ssm.data import listops
    >>> folder = tempfile.mkdtemp()
    >>> _ = listops.write_dataset(folder, 4, 2, 2, min_length=10, max_length=60)
    >>> data = listops.load_listops(folder, batch_size=2)
    >>> data["train"] is data.train, data.input_shape, data.num_examples
    (True, (None,), {'train': 4, 'validation': 2, 'test': 2})
    """

    task: str
    train: object
    validation: object
    test: object
    num_classes: int
    labels: tuple
    input_shape: tuple
    input_dtype: str
    vocab_size: int | None
    max_length: int | None
    num_examples: dict
    info: dict = dataclasses.field(default_factory=dict)

    SPLITS = ("train", "validation", "test")

    def __getitem__(self, split):
        if split not in self.SPLITS:
            raise KeyError(f"split must be one of {list(self.SPLITS)}, got {split!r}.")
        return getattr(self, split)

    def __repr__(self):
        sizes = ", ".join(f"{k}={v}" for k, v in self.num_examples.items())
        return (
            f"TaskData(task={self.task!r}, {sizes}, num_classes={self.num_classes}, "
            f"input_shape={self.input_shape}, input_dtype={self.input_dtype!r}, "
            f"vocab_size={self.vocab_size}, max_length={self.max_length})"
        )


def missing_data(task, data_dir, expected, where):
    """A FileNotFoundError that says which layout was expected and where to get it."""
    return FileNotFoundError(
        f"{task}: no data found in data_dir={os.fspath(data_dir)!r}.\n"
        f"Expected layout:\n{expected.rstrip()}\n"
        f"Where the data comes from: {where.rstrip()}"
    )


def check_data_dir(task, data_dir, expected, where):
    """Returns `data_dir` as an absolute path; raises if it is not a folder."""
    if data_dir is None:
        raise ValueError(
            f"{task}: `data_dir` is required (the folder that holds the data).\n"
            f"Expected layout:\n{expected.rstrip()}\nWhere the data comes from: {where.rstrip()}"
        )
    path = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    if not os.path.isdir(path):
        raise missing_data(task, data_dir, expected, where)
    return path


def split_files(task, data_dir, names, expected, where):
    """`{key: path}` of the files `names` (`{key: file name}`) in `data_dir`;
    raises `missing_data` listing those that are not there."""
    files = {key: os.path.join(data_dir, name) for key, name in names.items()}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise missing_data(task, data_dir, expected, where + f"\nMissing: {missing}")
    return files


def check_fraction(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"`{name}` must be a number strictly between 0 and 1, got {value!r}.")


def holdout_split(labels, fraction, seed):
    """Seeded, class-stratified split of `range(len(labels))`.

    Returns `(keep, held_out)` index arrays (each sorted): `round(fraction *
    count)` examples of every class go to `held_out`, so the class balance
    of both parts equals the source's.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        take = int(round(fraction * len(members)))
        held.append(rng.permutation(members)[:take])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, int)
    keep = np.setdiff1d(np.arange(len(labels)), held)
    return keep, held


def find_tfds_dir(data_dir, name):
    """The prepared TFDS folder of dataset `name` under `data_dir`, or None.

    Accepts the TFDS data dir (`<data_dir>/<name>/[<config>/]<version>/`,
    highest version wins) or the version folder itself (it holds
    `dataset_info.json`).
    """
    if os.path.isfile(os.path.join(data_dir, "dataset_info.json")):
        return data_dir
    root = os.path.join(data_dir, name)
    if not os.path.isdir(root):
        return None
    found = []
    for parent, _, files in os.walk(root):
        if "dataset_info.json" in files and not os.path.basename(parent).startswith("incomplete"):
            found.append(parent)

    def version_key(path):
        parts = os.path.basename(path).split(".")
        return tuple(int(p) if p.isdigit() else -1 for p in parts), path

    return max(found, key=version_key) if found else None


def tfds_or_npz_layout(data_dir, name):
    """`("tfds", folder)` when `data_dir` holds a prepared TFDS `name` (see
    `find_tfds_dir`), else `("npz", data_dir)` when it holds `train.npz` and
    `test.npz`, else `(None, None)`."""
    tfds_dir = find_tfds_dir(data_dir, name)
    if tfds_dir:
        return "tfds", tfds_dir
    if all(os.path.isfile(os.path.join(data_dir, f"{s}.npz")) for s in ("train", "test")):
        return "npz", data_dir
    return None, None


def concatenated_records(npz, key):
    """The records of an npz file that stores them end to end in `npz[key]`
    with `npz["offsets"]` (N+1 boundaries): a list of N arrays.

    >>> import numpy as np
    >>> concatenated_records({"x": np.arange(5), "offsets": np.array([0, 2, 5])}, "x")
    [array([0, 1]), array([2, 3, 4])]
    """
    data, offsets = npz[key], npz["offsets"]
    return [data[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def read_tfds(path):
    """`(builder, features)` of a prepared TFDS folder, without its builder class."""
    import tensorflow_datasets as tfds  # imported here: slow, and optional

    builder = tfds.builder_from_directory(path)
    return builder, builder.info.features
