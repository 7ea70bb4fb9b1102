"""Shared checks of the data tests: batches as numpy, and one `model.fit` step."""

import math

import keras
import numpy as np


def batches(dataset):
    """Every batch of a dataset as numpy (nested like the dataset)."""
    import tensorflow as tf

    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset]


def all_labels(dataset):
    labels = [y for _, y in batches(dataset)]
    return np.concatenate(labels) if labels else np.zeros(0, int)


def check_split(dataset, num_examples, batch_size):
    """Batch count equals the declared cardinality, and every example comes out once."""
    got = batches(dataset)
    assert len(got) == int(dataset.cardinality())
    assert sum(len(y) for _, y in got) == num_examples
    assert all(len(y) <= batch_size for _, y in got)
    return got


def check_tokens(x, vocab_size, max_length):
    """Padded token batches: int32, ids in range, 0 only as right padding."""
    assert x.dtype == np.int32 and x.ndim == 2
    assert x.shape[1] <= max_length
    assert x.min() >= 0 and x.max() < vocab_size
    nonzero = x != 0
    # Right padding: once a row has a 0, the rest of the row is 0.
    assert not (np.diff(nonzero.astype(int), axis=1) > 0).any()


def fit_one_step(data):
    """Builds the smallest model for `data`'s inputs and trains one step on the active backend."""
    n = data.num_classes
    if isinstance(data.input_shape[0], tuple):  # retrieval: two token sequences
        a = keras.Input((None,), dtype="int32")
        b = keras.Input((None,), dtype="int32")
        embed = keras.layers.Embedding(data.vocab_size, 4, mask_zero=True)
        pool = keras.layers.GlobalAveragePooling1D()
        merged = keras.layers.Concatenate()([pool(embed(a)), pool(embed(b))])
        model = keras.Model([a, b], keras.layers.Dense(n)(merged))
    elif data.input_dtype == "int32":
        model = keras.Sequential([
            keras.Input(data.input_shape, dtype="int32"),
            keras.layers.Embedding(data.vocab_size, 4, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(n),
        ])
    elif data.info.get("return_mask"):
        audio = keras.Input(data.input_shape)
        mask = keras.Input(data.input_shape[:1], dtype="bool")
        h = keras.layers.Dense(4)(audio)
        h = keras.layers.GlobalAveragePooling1D()(h, mask=mask)
        model = keras.Model([audio, mask], keras.layers.Dense(n)(h))
    else:
        model = keras.Sequential([
            keras.Input(data.input_shape),
            keras.layers.Dense(4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(n),
        ])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(data.train, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    loss = history.history["loss"][-1]
    assert math.isfinite(loss), f"the training step's loss is {loss}"
    # The step reached every weight: a batch that fed no gradient (empty, all padding) would leave them.
    moved = [not np.array_equal(b, a) for b, a in zip(before, model.get_weights())]
    assert all(moved), f"one training step left {moved.count(False)} of {len(moved)} weight tensors unchanged"
    return loss


def store_tfds(data_dir, name, version, features, splits, config=None):
    """Writes a prepared TFDS dataset (`<data_dir>/<name>/[<config>/]<version>/`).

    `splits` maps split names to dicts of columns or to `tf.data.Dataset`s of example dicts.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    split_datasets = {}
    for split, columns in splits.items():
        if not isinstance(columns, tf.data.Dataset):
            columns = tf.data.Dataset.from_tensor_slices(columns)
        split_datasets[split] = columns
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name, version=version, features=features, split_datasets=split_datasets,
        config=config, data_dir=str(data_dir), disable_shuffling=True,
    )
