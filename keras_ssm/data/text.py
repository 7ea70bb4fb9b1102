"""LRA "Text": byte-level IMDB sentiment classification (2 classes, length 4,096).

Each review is read as raw UTF-8 bytes (HTML `<br />` breaks kept, as in the
TFDS / LRA data) and encoded byte by byte: token id = byte value + 1, so
ids are 1..256 and 0 is padding (`vocab_size` 257; the same ids as
`tfds.deprecated.text.ByteTextEncoder`, which LRA uses). Reviews longer than
`max_length` (4,096 by default, as in LRA and S4; about 3 % of reviews) are
truncated to their first `max_length` bytes. Labels: 0 = negative, 1 =
positive.

Three source layouts are recognised under `data_dir`:

- the aclImdb folder: `[aclImdb/]{train,test}/{pos,neg}/<id>_<rating>.txt`
  (`train/unsup` is ignored);
- a TFDS data dir holding a prepared `imdb_reviews` (`plain_text` config);
- numpy files `train.npz` / `test.npz` with `text_bytes` (uint8, all reviews
  concatenated), `offsets` (int64 `(n + 1,)`) and `labels`; `test.npz` alone
  is a test-only folder (the train and validation datasets are None).

IMDB has no validation split. By default a seeded, class-stratified 10 % of
train is held out as validation; `validation_fraction=None` follows LRA and
S4 instead and uses the test set for validation too. The hold-out has its own
seed, `split_seed` (default 0), apart from the shuffle's `seed`: changing the
shuffle never changes the validation set.
"""

import glob
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

LABELS = ("neg", "pos")
VOCAB_SIZE = 257
SOURCES = ("auto", "aclimdb", "tfds", "npz")

EXPECTED_LAYOUT = """\
  one of
  - DATA_DIR/[aclImdb/]{train,test}/{pos,neg}/*.txt   (the aclImdb_v1 archive, unpacked)
  - DATA_DIR/imdb_reviews/plain_text/<version>/         (a TFDS data dir with imdb_reviews prepared)
  - DATA_DIR/{train,test}.npz with text_bytes, offsets, labels
    (test.npz alone: the test split only, as the copy bundled for the zoo's evaluation)"""
WHERE = (
    "the Large Movie Review Dataset, https://ai.stanford.edu/~amaas/data/sentiment/ "
    "(aclImdb_v1.tar.gz), or `tfds.load('imdb_reviews', data_dir=DATA_DIR)` on a machine with network."
)


def encode_bytes(data, max_length=None):
    """Byte-level token ids (uint16 `(length,)`): byte + 1, truncated to `max_length`.

    >>> encode_bytes(b"Hi!").tolist()
    [73, 106, 34]
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    ids = np.frombuffer(bytes(data[:max_length] if max_length else data), np.uint8)
    return ids.astype(np.uint16) + 1


def _review_order(path):
    stem = os.path.basename(path).split("_")[0]
    return (int(stem) if stem.isdigit() else -1, path)


def _read_aclimdb(root):
    splits = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in enumerate(LABELS):
            # `<id>_<rating>.txt` in numeric id order: the same order on every machine.
            files = sorted(glob.glob(os.path.join(root, split, polarity, "*.txt")), key=_review_order)
            for path in files:
                with open(path, "rb") as f:
                    texts.append(f.read())
                labels.append(label)
        splits[split] = (texts, np.asarray(labels, np.int32))
    return splits


def _read_npz(root):
    splits = {}
    for split in ("train", "test"):
        if split == "train" and not os.path.isfile(os.path.join(root, "train.npz")):
            splits[split] = None  # a test-only folder
            continue
        with np.load(os.path.join(root, f"{split}.npz")) as z:
            if not {"text_bytes", "offsets", "labels"} <= set(z.files):
                raise missing_data("text", root, EXPECTED_LAYOUT, WHERE + f"\n({split}.npz holds {sorted(z.files)})")
            texts, labels = [r.tobytes() for r in concatenated_records(z, "text_bytes")], z["labels"]
        splits[split] = (texts, labels.astype(np.int32))
    return splits


def _read_tfds(path):
    import tensorflow_datasets as tfds

    builder, features = read_tfds(path)
    names = tuple(features["label"].names)
    if sorted(names) != sorted(LABELS):
        raise ValueError(f"{path}: expected imdb_reviews labels {LABELS}, found {names}.")
    remap = np.array([LABELS.index(n) for n in names], np.int32)
    splits = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            texts.append(bytes(example["text"]))
            labels.append(remap[example["label"]])
        splits[split] = (texts, np.asarray(labels, np.int32))
    return splits


def detect_layout(data_dir):
    """`(layout, root)` of the IMDB data under `data_dir`, or `(None, None)`."""
    for root in (data_dir, os.path.join(data_dir, "aclImdb")):
        if all(os.path.isdir(os.path.join(root, s, p)) for s in ("train", "test") for p in LABELS):
            return "aclimdb", root
    layout, root = tfds_or_npz_layout(data_dir, "imdb_reviews")
    if layout is None and os.path.isfile(os.path.join(data_dir, "test.npz")):
        return "npz", data_dir
    return layout, root


def load_text(
    data_dir,
    *,
    batch_size=32,
    max_length=4096,
    validation_fraction=0.1,
    source="auto",
    bucket=True,
    shuffle=True,
    seed=0,
    drop_remainder=False,
    split_seed=0,
):
    """Loads byte-level IMDB (LRA "Text").

    Args:
        data_dir: folder in one of the layouts of the module docstring.
        batch_size: examples per batch.
        max_length: reviews are truncated to their first `max_length` bytes
            (LRA and S4: 4,096).
        validation_fraction: share of train (stratified, seeded by
            `split_seed`) held out as validation; None uses the test set as
            validation (LRA / S4).
        source: `"auto"` (detect), `"aclimdb"`, `"tfds"` or `"npz"`.
        bucket, shuffle, seed, drop_remainder: see `batching.make_dataset`
            (`seed` only orders the training batches).
        split_seed: int seed of the validation hold-out, independent of
            `seed`, so the validation set stays the same when the shuffle
            seed changes.

    Returns:
        `TaskData` whose datasets yield `(tokens, labels)`: int32
        `(batch, length)` byte ids (byte + 1; 0 = padding), int32 labels
        (0 = neg, 1 = pos). `vocab_size` 257.

    >>> data = load_text("path/to/aclImdb")  # doctest: +SKIP
    >>> x, y = next(iter(data.train))         # doctest: +SKIP
    >>> x.shape, y.shape                      # doctest: +SKIP
    (TensorShape([32, 2048]), TensorShape([32]))
    """
    import tensorflow as tf

    from keras_ssm.data.batching import sequence_datasets

    data_dir = check_data_dir("text", data_dir, EXPECTED_LAYOUT, WHERE)
    check_choice("source", source, SOURCES)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_length", max_length)
    check_fraction("validation_fraction", validation_fraction, allow_none=True)
    check_non_negative_int("split_seed", split_seed)
    layout, root = detect_layout(data_dir)
    if layout is None or (source != "auto" and source != layout):
        raise missing_data("text", data_dir, EXPECTED_LAYOUT, WHERE)
    reader = {"aclimdb": _read_aclimdb, "tfds": _read_tfds, "npz": _read_npz}[layout]
    raw = reader(root)
    test_only = raw["train"] is None
    if (not test_only and not len(raw["train"][1])) or not len(raw["test"][1]):
        raise missing_data("text", data_dir, EXPECTED_LAYOUT, WHERE + "\n(a split is empty)")

    if test_only:
        parts = {"train": None, "validation": None, "test": raw["test"]}
    elif validation_fraction is None:
        parts = {"train": raw["train"], "validation": raw["test"], "test": raw["test"]}
    else:
        train_texts, train_labels = raw["train"]
        keep, held = holdout_split(train_labels, validation_fraction, split_seed)
        parts = {
            "train": ([train_texts[i] for i in keep], train_labels[keep]),
            "validation": ([train_texts[i] for i in held], train_labels[held]),
            "test": raw["test"],
        }
    # Stored as raw bytes (uint8); the +1 shift happens per example.
    truncated = (
        (split, None if part is None else ([np.frombuffer(t[:max_length], np.uint8) for t in part[0]], part[1]))
        for split, part in parts.items()
    )
    datasets, sizes = sequence_datasets(
        truncated, lambda rows, i: tf.cast(rows[i], tf.int32) + 1, dtype=np.uint8,
        shuffle=shuffle, batch_size=batch_size, max_length=max_length, seed=seed, bucket=bucket,
        drop_remainder=drop_remainder,
    )
    return TaskData(
        task="text",
        **datasets,
        num_classes=2,
        labels=LABELS,
        input_shape=(None,),
        input_dtype="int32",
        vocab_size=VOCAB_SIZE,
        max_length=max_length,
        num_examples=sizes,
        info={"data_dir": root, "layout": layout, "vocab": "byte + 1 (0 = padding)",
              "truncation": f"first {max_length} bytes",
              "validation": "test set" if validation_fraction is None
              else f"{validation_fraction:.0%} of train, stratified, split seed {split_seed}"},
    )
