import numpy as np
import pytest
import tensorflow as tf

from keras_ssm.data.batching import bucket_sizes, make_dataset, num_batches, ragged
from tests.data.helpers import batches, check_tokens


def _sequences(n=50, seed=0, low=1, high=300):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high, n)
    return [rng.integers(1, 9, size=k).astype(np.uint8) for k in lengths]


def _dataset(seqs, **options):
    rows, lengths = ragged(seqs, np.uint8)
    labels = tf.constant(np.arange(len(seqs), dtype=np.int32))

    def element(i):
        return tf.cast(rows[i], tf.int32), labels[i]

    options.setdefault("batch_size", 8)
    return make_dataset(len(seqs), element, lengths=lengths, **options), lengths


def test_bucket_sizes_are_powers_of_two_then_max():
    assert bucket_sizes(2048) == [64, 128, 256, 512, 1024, 2048]
    assert bucket_sizes(4000) == [64, 128, 256, 512, 1024, 2048, 4000]
    assert bucket_sizes(50) == [50]
    assert bucket_sizes(16000, 1024) == [1024, 2048, 4096, 8192, 16000]


def test_bucketing_pads_to_the_bucket_and_keeps_every_example():
    seqs = _sequences()
    ds, lengths = _dataset(seqs, max_length=300)
    got = batches(ds)
    assert len(got) == int(ds.cardinality()) == num_batches(lengths, 8, bucket_sizes(300))
    seen = np.concatenate([y for _, y in got])
    assert sorted(seen) == list(range(len(seqs)))
    for x, y in got:
        check_tokens(x, 9, 300)
        assert x.shape[1] in bucket_sizes(300)
        # Every example is exactly its sequence followed by zeros.
        for row, i in zip(x, y):
            k = len(seqs[i])
            np.testing.assert_array_equal(row[:k], seqs[i])
            assert not row[k:].any()
        # The bucket is the smallest size that holds the longest sequence of the batch.
        longest = max(len(seqs[i]) for i in y)
        sizes = bucket_sizes(300)
        assert x.shape[1] == sizes[np.searchsorted(sizes, longest)]


def test_short_batches_do_not_pay_for_max_length():
    seqs = _sequences(low=1, high=40) + _sequences(n=5, seed=1, low=3000, high=4096)
    ds, _ = _dataset(seqs, max_length=4096)
    widths = sorted({x.shape[1] for x, _ in batches(ds)})
    assert widths[0] == 64 and widths[-1] == 4096


def test_without_buckets_every_batch_is_max_length():
    seqs = _sequences()
    ds, _ = _dataset(seqs, max_length=300, bucket=False)
    got = batches(ds)
    assert {x.shape[1] for x, _ in got} == {300}
    assert [len(y) for _, y in got] == [8] * 6 + [2]
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), np.arange(50))  # order kept


def test_drop_remainder_counts_per_bucket():
    seqs = _sequences()
    ds, lengths = _dataset(seqs, max_length=300, drop_remainder=True)
    got = batches(ds)
    assert all(len(y) == 8 for _, y in got)
    assert len(got) == int(ds.cardinality()) == num_batches(lengths, 8, bucket_sizes(300), True)


def test_shuffling_is_deterministic_for_a_seed():
    seqs = _sequences()

    def order(seed, epochs=2):
        ds, _ = _dataset(seqs, max_length=300, shuffle=True, seed=seed)
        return [np.concatenate([y for _, y in batches(ds)]).tolist() for _ in range(epochs)]

    first = order(1)
    assert first == order(1)  # same seed, same orders, epoch after epoch
    assert first[0] != first[1]  # reshuffled every epoch
    assert first != order(2)
    assert sorted(first[0]) == list(range(len(seqs)))


def test_sequence_longer_than_max_length_is_an_error():
    with pytest.raises(ValueError, match="max_length"):
        _dataset(_sequences(), max_length=10)


def test_fixed_size_examples_batch_plainly():
    x = tf.constant(np.arange(30, dtype=np.float32).reshape(10, 3, 1))
    ds = make_dataset(10, lambda i: (x[i], i), batch_size=4)
    got = batches(ds)
    assert [b[0].shape for b in got] == [(4, 3, 1), (4, 3, 1), (2, 3, 1)]
    assert int(ds.cardinality()) == 3
