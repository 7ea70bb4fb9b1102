"""LRA "Image": CIFAR-10 as a sequence of 1,024 grayscale pixels (10 classes).

Preprocessing as in LRA: `tf.image.rgb_to_grayscale` (0.2989 R + 0.5870 G +
0.1140 B, back to uint8), flattened row-major to length 1,024. Outputs
float32 `(batch, 1024, 1)` with `scale`:

- `"unit"`: pixels / 255, in [0, 1];
- `"symmetric"`: pixels / 127.5 − 1, in [-1, 1] (`Normalize(0.5, 0.5)`: S4's
  Pathfinder normalisation, not its CIFAR one);
- `"cifar"`: S4's and S5's CIFAR normalisation, `Normalize(mean=122.6/255,
  std=61.0/255)` on [0, 1] pixels, i.e. (pixels − 122.6) / 61.0; in RGB,
  S4's per-channel mean (0.4914, 0.4822, 0.4465) and std (0.247, 0.243, 0.261);
- `"tokens"`: int32 pixel tokens `(batch, 1024)` with id = intensity + 1
  (LRA's embedding input; `vocab_size` 257, id 0 unused).

`grayscale=False` keeps the three colour channels, `(batch, 1024, 3)` (S4's
sequential CIFAR).

Split: 45,000 train / 5,000 validation / 10,000 test. The 5,000 validation
images are a class-stratified 10 % of the official training set drawn with
its own seed, `split_seed` (default 0), not the shuffle's `seed`: changing the
shuffle never changes the validation set (500 per class; LRA took the last
10 % in TFDS order, which no other layout shares, and the npz layout is
sorted by class).

Source layouts recognised under `data_dir`:

- `cifar-10-batches-bin/` (binary version: `data_batch_{1..5}.bin`,
  `test_batch.bin`);
- a TFDS data dir with `cifar10` prepared;
- `train.npz` / `test.npz` holding JPEG files (`jpeg_bytes`, `offsets`,
  `labels`, `class_names`), decoded with Pillow; `test.npz` alone is a
  test-only folder (the train and validation datasets are None).

The CIFAR "python version" is not read: its batches are pickles, and
keras_ssm loads no pickle. Use the binary version of the same archive.
"""

import io
import os

import numpy as np

from keras_ssm.data.base import (
    concatenated_records,
    TaskData,
    check_choice,
    check_data_dir,
    check_fraction,
    check_non_negative_int,
    check_positive_int,
    holdout_split,
    missing_data,
    read_tfds,
    tfds_or_npz_layout,
)

LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SOURCES = ("auto", "binary", "tfds", "npz")
SCALES = ("unit", "symmetric", "cifar", "tokens")
# S4's and S5's CIFAR-10 normalisation, torchvision `Normalize(mean, std)` on
# [0, 1] pixels: grayscale, and per channel in RGB (S4's dataloader).
CIFAR_GRAY_MEAN, CIFAR_GRAY_STD = 122.6 / 255.0, 61.0 / 255.0
CIFAR_RGB_MEAN, CIFAR_RGB_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)

EXPECTED_LAYOUT = """\
  one of
  - DATA_DIR/[cifar-10-batches-bin/]data_batch_{1..5}.bin, test_batch.bin   (CIFAR-10 binary version)
  - DATA_DIR/cifar10/<version>/                                             (a TFDS data dir with cifar10 prepared)
  - DATA_DIR/{train,test}.npz with jpeg_bytes, offsets, labels               (CIFAR-10 as JPEG files)
    (test.npz alone: the test split only, as the copy bundled for the zoo's evaluation)"""
WHERE = "CIFAR-10, https://www.cs.toronto.edu/~kriz/cifar.html (the binary version; the python version is pickled and not read)."

_TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def _read_binary(root):
    def read(names):
        records = [np.fromfile(os.path.join(root, n + ".bin"), np.uint8).reshape(-1, 3073) for n in names]
        records = np.concatenate(records)
        images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, records[:, 0].astype(np.int32)

    return {"train": read(_TRAIN_FILES), "test": read(["test_batch"])}


def _read_tfds(path):
    import tensorflow_datasets as tfds

    builder, features = read_tfds(path)
    names = tuple(features["label"].names)
    if names != LABELS:
        raise ValueError(f"{path}: expected the cifar10 labels {LABELS}, found {names}.")
    splits = {}
    for split in ("train", "test"):
        images, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            images.append(example["image"])
            labels.append(example["label"])
        splits[split] = (np.stack(images).astype(np.uint8), np.asarray(labels, np.int32))
    return splits


def _read_npz(root):
    from PIL import Image

    splits = {}
    for split in ("train", "test"):
        if split == "train" and not os.path.isfile(os.path.join(root, "train.npz")):
            splits[split] = None  # a test-only folder
            continue
        with np.load(os.path.join(root, f"{split}.npz")) as z:
            if not {"jpeg_bytes", "offsets", "labels"} <= set(z.files):
                raise missing_data("image", root, EXPECTED_LAYOUT, WHERE + f"\n({split}.npz holds {sorted(z.files)})")
            files, labels = concatenated_records(z, "jpeg_bytes"), z["labels"]
        images = [np.asarray(Image.open(io.BytesIO(f.tobytes())).convert("RGB")) for f in files]
        splits[split] = (np.stack(images).astype(np.uint8), labels.astype(np.int32))
    return splits


def detect_layout(data_dir):
    """`(layout, root)` of the CIFAR-10 data under `data_dir`, or `(None, None)`."""
    for root in (data_dir, os.path.join(data_dir, "cifar-10-batches-bin")):
        names = [n + ".bin" for n in _TRAIN_FILES] + ["test_batch.bin"]
        if all(os.path.isfile(os.path.join(root, n)) for n in names):
            return "binary", root
    layout, root = tfds_or_npz_layout(data_dir, "cifar10")
    if layout is None and os.path.isfile(os.path.join(data_dir, "test.npz")):
        return "npz", data_dir
    return layout, root


def to_grayscale(images):
    """LRA's grayscale conversion: uint8 `(n, 32, 32, 3)` -> uint8 `(n, 32, 32, 1)`.

    >>> import numpy as np
    >>> to_grayscale(np.full((1, 2, 2, 3), 255, np.uint8))[0, 0, 0, 0]
    np.uint8(255)
    """
    import tensorflow as tf

    return tf.image.rgb_to_grayscale(tf.constant(images, tf.uint8)).numpy()


def pixel_transform(scale):
    """The per-example map from uint8 `(length, channels)` pixels to model inputs."""
    import tensorflow as tf

    check_choice("scale", scale, SCALES)
    if scale == "tokens":
        return lambda x: tf.cast(x[:, 0], tf.int32) + 1
    if scale == "symmetric":
        return lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0
    if scale == "cifar":

        def normalize(x):  # x: (length, channels), channels 1 or 3 (static)
            gray = x.shape[-1] == 1
            mean = tf.constant(CIFAR_GRAY_MEAN if gray else CIFAR_RGB_MEAN, tf.float32)
            std = tf.constant(CIFAR_GRAY_STD if gray else CIFAR_RGB_STD, tf.float32)
            return (tf.cast(x, tf.float32) / 255.0 - mean) / std

        return normalize
    return lambda x: tf.cast(x, tf.float32) / 255.0


def load_image(
    data_dir,
    *,
    batch_size=50,
    scale="unit",
    grayscale=True,
    validation_fraction=0.1,
    source="auto",
    shuffle=True,
    seed=0,
    drop_remainder=False,
    split_seed=0,
    train_fraction=None,
):
    """Loads CIFAR-10 for LRA "Image" (grayscale, length 1,024).

    Args:
        data_dir: folder in one of the layouts of the module docstring.
        batch_size: examples per batch (LRA / S4: 50).
        scale: `"unit"` ([0, 1]), `"symmetric"` ([-1, 1]), `"cifar"`
            (S4 / S5's mean and std) or `"tokens"` (int32 ids = intensity
            + 1; needs `grayscale=True`); see the module docstring.
        grayscale: LRA's grayscale conversion; False keeps RGB channels.
        validation_fraction: share of train held out, stratified and seeded
            by `split_seed` (0.1 -> 45,000 / 5,000).
        source: `"auto"` (detect), `"binary"`, `"tfds"`, `"npz"`.
        shuffle, seed, drop_remainder: see `batching.make_dataset` (`seed`
            only orders the training batches).
        split_seed: int seed of the validation hold-out, independent of
            `seed`, so the validation set stays the same when the shuffle
            seed changes.
        train_fraction: keep only this share of the training split
            (stratified, seeded by `split_seed`), for low-data experiments;
            the validation and test splits are unchanged. None keeps it all.

    Returns:
        `TaskData` whose datasets yield `(pixels, labels)`: float32
        `(batch, 1024, 1)` (or `(batch, 1024, 3)`; int32 `(batch, 1024)` for
        tokens) and int32 labels 0-9.

    >>> data = load_image("path/to/cifar-10-batches-bin")  # doctest: +SKIP
    >>> x, y = next(iter(data.train))                      # doctest: +SKIP
    >>> x.shape                                            # doctest: +SKIP
    TensorShape([50, 1024, 1])
    """
    import tensorflow as tf

    from keras_ssm.data.batching import make_dataset

    data_dir = check_data_dir("image", data_dir, EXPECTED_LAYOUT, WHERE)
    check_choice("source", source, SOURCES)
    check_choice("scale", scale, SCALES)
    check_positive_int("batch_size", batch_size)
    check_fraction("validation_fraction", validation_fraction)
    check_non_negative_int("split_seed", split_seed)
    check_fraction("train_fraction", train_fraction, allow_none=True)
    if scale == "tokens" and not grayscale:
        raise ValueError("`scale='tokens'` needs `grayscale=True` (one token per pixel).")
    layout, root = detect_layout(data_dir)
    if layout is None or (source != "auto" and source != layout):
        raise missing_data("image", data_dir, EXPECTED_LAYOUT, WHERE)
    raw = {"binary": _read_binary, "tfds": _read_tfds, "npz": _read_npz}[layout](root)

    def sequences(images):
        images = to_grayscale(images) if grayscale else images
        return images.reshape(len(images), 32 * 32, images.shape[-1])

    parts = {"train": None, "validation": None, "test": (sequences(raw["test"][0]), raw["test"][1])}
    if raw["train"] is not None:
        train_x, train_y = raw["train"]
        keep, held = holdout_split(train_y, validation_fraction, split_seed)
        if train_fraction is not None:
            keep = keep[holdout_split(train_y[keep], train_fraction, split_seed + 1)[1]]
        train_x = sequences(train_x)
        parts.update(train=(train_x[keep], train_y[keep]), validation=(train_x[held], train_y[held]))
    transform = pixel_transform(scale)
    datasets, sizes = {}, {}
    for split, part in parts.items():
        if part is None:
            datasets[split], sizes[split] = None, 0
            continue
        x, y = part
        x_t, y_t = tf.constant(x), tf.constant(y)

        def element(i, x_t=x_t, y_t=y_t):
            return transform(x_t[i]), y_t[i]

        datasets[split] = make_dataset(len(y), element, batch_size=batch_size,
                                       shuffle=shuffle and split == "train", seed=seed,
                                       drop_remainder=drop_remainder)
        sizes[split] = len(y)
    channels = 1 if grayscale else 3
    return TaskData(
        task="image",
        **datasets,
        num_classes=10,
        labels=LABELS,
        input_shape=(1024,) if scale == "tokens" else (1024, channels),
        input_dtype="int32" if scale == "tokens" else "float32",
        vocab_size=257 if scale == "tokens" else None,
        max_length=1024,
        num_examples=sizes,
        info={"data_dir": root, "layout": layout, "scale": scale,
              "preprocessing": ("tf.image.rgb_to_grayscale, " if grayscale else "RGB, ")
              + "row-major flatten to 1024",
              "validation": f"{validation_fraction:.0%} of train, stratified, split seed {split_seed}",
              **({} if train_fraction is None else
                 {"train": f"{train_fraction:.0%} of the rest, stratified, split seed {split_seed + 1}"})},
    )
