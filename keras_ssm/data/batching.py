"""Shuffling, padding with masks, and length bucketing for every task.

A split is held as numpy arrays (or file paths) and indexed: the `tf.data`
pipeline is `range(n)` -> seeded shuffle -> `element_fn(index)` -> batches.
Shuffling indices rather than examples keeps the shuffle buffer small (int64
per example) whatever the examples weigh.

Variable-length examples are right-padded with 0 (token id 0 is reserved for
padding; float audio pads with 0.0 and can carry an explicit bool mask).
With bucketing (`tf.data.Dataset.bucket_by_sequence_length`), a batch holds
sequences of similar length and is padded only up to its bucket's size, so a
batch of short reviews does not pay for 4,096 steps. Bucket sizes are powers
of two (plus `max_length`): few distinct shapes, so JAX compiles few
programs and FFT lengths stay friendly.

The number of batches is known in advance (each bucket yields
`ceil(count / batch_size)` batches whatever the order), so every dataset
carries its cardinality and `model.fit` shows a finite progress bar.
"""

import math

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def bucket_sizes(max_length, min_length=64):
    """Padded lengths of the buckets: powers of two from `min_length`, then `max_length`.

    >>> bucket_sizes(1000)
    [64, 128, 256, 512, 1000]
    >>> bucket_sizes(2048)
    [64, 128, 256, 512, 1024, 2048]
    """
    sizes = []
    size = min_length
    while size < max_length:
        sizes.append(size)
        size *= 2
    return sizes + [int(max_length)]


def num_batches(lengths, batch_size, sizes=None, drop_remainder=False):
    """Number of batches that bucketing (or plain batching if `sizes` is None) yields."""
    round_ = math.floor if drop_remainder else math.ceil
    if sizes is None:
        return int(round_(len(lengths) / batch_size))
    buckets = np.searchsorted(np.asarray(sizes), np.asarray(lengths), side="left")
    counts = np.bincount(buckets, minlength=len(sizes))
    return int(sum(round_(c / batch_size) for c in counts))


def make_dataset(
    n,
    element_fn,
    *,
    batch_size,
    lengths=None,
    max_length=None,
    shuffle=False,
    seed=0,
    bucket=True,
    min_bucket=64,
    drop_remainder=False,
    length_fn=None,
    deterministic=True,
):
    """Batches `element_fn(i)` for `i` in `range(n)`: shuffled, padded, bucketed.

    Args:
        n: number of examples.
        element_fn: maps a scalar int64 index tensor to one example
            `(inputs, label)` (any nesting of tensors; variable-length ones
            have shape `(None, ...)` along their first axis).
        batch_size: examples per batch.
        lengths: numpy int array `(n,)` of each example's (already truncated)
            length, for variable-length tasks; None for fixed-size examples.
        max_length: longest allowed length (defaults to `max(lengths)`).
        shuffle: reshuffle every epoch, deterministically from `seed`.
        seed: int seed of the shuffle.
        bucket: group examples of similar length into buckets whose batches
            are padded to the bucket size (powers of two from `min_bucket`,
            then `max_length`). If False, every batch is padded to
            `max_length` (one shape, LRA style).
        min_bucket: smallest bucket size.
        drop_remainder: drop the last incomplete batch (of every bucket).
        length_fn: example -> scalar length tensor, for bucketing; the default
            takes the first axis of the first input tensor.
        deterministic: keep the order of parallel maps fixed.

    Returns:
        A `tf.data.Dataset` of `(inputs, labels)` batches, with its
        cardinality set and prefetching on.

    >>> import numpy as np, tensorflow as tf
    >>> rows = tf.ragged.constant([[5, 6], [7], [1, 2, 3, 4]])
    >>> ds = make_dataset(3, lambda i: (rows[i], i), batch_size=3, lengths=np.array([2, 1, 4]),
    ...                   min_bucket=2)
    >>> sorted(tuple(x.shape) for x, y in ds)  # two buckets: lengths <= 2, then <= 4
    [(1, 4), (2, 2)]
    """
    options = tf.data.Options()
    options.deterministic = deterministic
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(element_fn, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if lengths is None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        count = num_batches(np.zeros(n), batch_size, None, drop_remainder)
    else:
        lengths = np.asarray(lengths)
        if max_length is None:
            max_length = int(lengths.max()) if n else 1
        if n and lengths.max() > max_length:
            raise ValueError(f"a sequence of length {lengths.max()} exceeds max_length={max_length}.")
        if bucket:
            sizes = bucket_sizes(max_length, min(min_bucket, max_length))
            length_fn = length_fn or _first_length
            ds = ds.bucket_by_sequence_length(
                lambda *example: length_fn(example),
                # tf buckets are [lower, upper) and pad to upper - 1.
                bucket_boundaries=[s + 1 for s in sizes],
                bucket_batch_sizes=[batch_size] * (len(sizes) + 1),
                pad_to_bucket_boundary=True,
                drop_remainder=drop_remainder,
            )
            count = num_batches(lengths, batch_size, sizes, drop_remainder)
        else:
            shapes = tf.nest.map_structure(
                lambda spec: [max_length if d is None else d for d in spec.shape], ds.element_spec
            )
            ds = ds.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)
            count = num_batches(lengths, batch_size, None, drop_remainder)
    ds = ds.apply(tf.data.experimental.assert_cardinality(count))
    return ds.with_options(options).prefetch(AUTOTUNE)


def _first_length(example):
    inputs = example[0]
    first = tf.nest.flatten(inputs)[0]
    return tf.shape(first)[0]


def max_pair_length(example):
    """`length_fn` for pairs `((a, b), label)`: bucket by the longer of the two."""
    (a, b), _ = example
    return tf.maximum(tf.shape(a)[0], tf.shape(b)[0])


def ragged(sequences, dtype):
    """A `tf.RaggedTensor` of rows from a list of 1-D numpy arrays (stored compactly)."""
    lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
    values = np.concatenate(sequences).astype(dtype) if len(sequences) else np.zeros(0, dtype)
    return tf.RaggedTensor.from_row_lengths(values, lengths), lengths


def sequence_datasets(parts, inputs_fn, *, dtype, shuffle, **options):
    """One `make_dataset` per split of variable-length examples, each split
    held as ragged rows.

    Args:
        parts: `(split, (sequences, labels))` pairs, `sequences` a list of
            1-D numpy arrays (a tuple of such lists for examples of several
            inputs) and `labels` an int32 array; `(split, None)` is a split
            without examples (its dataset is None). A generator is read one
            split at a time, so a split's raw data can go once it is stored.
        inputs_fn: `(rows, i) -> inputs` of example `i` (a scalar int64
            tensor), `rows` the split's `tf.RaggedTensor` (a tuple of them).
        dtype: numpy dtype the rows are stored in.
        shuffle: reshuffle the `"train"` split every epoch (the others keep
            their order).
        **options: the other arguments of `make_dataset`; an example's length
            is that of its longest input.

    Returns:
        `(datasets, sizes)`: `{split: dataset}` and `{split: count}`.

    >>> import numpy as np
    >>> parts = {"train": ([np.array([5, 6]), np.array([7])], np.array([0, 1], np.int32))}
    >>> datasets, sizes = sequence_datasets(parts.items(), lambda rows, i: rows[i], dtype=np.int32,
    ...                                     shuffle=False, batch_size=2)
    >>> [x.numpy().tolist() for x, y in datasets["train"]], sizes
    ([[[5, 6], [7, 0]]], {'train': 2})
    """
    datasets, sizes = {}, {}
    for split, part in parts:
        if part is None:
            datasets[split], sizes[split] = None, 0
            continue
        sequences, labels = part
        if isinstance(sequences, tuple):
            stored = [ragged(s, dtype) for s in sequences]
            rows = tuple(r for r, _ in stored)
            lengths = np.maximum.reduce([n for _, n in stored])
        else:
            rows, lengths = ragged(sequences, dtype)
        labels_t = tf.constant(labels)

        def element(i, rows=rows, labels_t=labels_t):
            return inputs_fn(rows, i), labels_t[i]

        datasets[split] = make_dataset(
            len(labels), element, lengths=lengths, shuffle=shuffle and split == "train", **options
        )
        sizes[split] = len(labels)
    return datasets, sizes
