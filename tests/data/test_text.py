import numpy as np
import pytest

from keras_ssm.data import text
from tests.data.helpers import all_labels, batches, check_split, check_tokens, fit_one_step, store_tfds

# 5 reviews per polarity in train, 2 in test; one long review to test truncation.
TRAIN = {
    "neg": [b"Bad.", b"Awful film<br /><br />really.", b"No.", b"Meh " * 30, "Na\u00efve plot".encode()],
    "pos": [b"Great!", b"Loved it.", b"x" * 5000, b"Fine film.", b"Yes!"],
}
TEST = {"neg": [b"Dull.", b"Poor."], "pos": [b"Superb.", b"Fun."]}


def _write_aclimdb(root):
    for split, reviews in (("train", TRAIN), ("test", TEST)):
        for polarity, texts in reviews.items():
            folder = root / "aclImdb" / split / polarity
            folder.mkdir(parents=True)
            for i, body in enumerate(texts):
                (folder / f"{i}_{8 if polarity == 'pos' else 2}.txt").write_bytes(body)
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_bytes(b"ignored")


def _write_npz(root):
    for split, reviews in (("train", TRAIN), ("test", TEST)):
        texts = reviews["neg"] + reviews["pos"]
        labels = [0] * len(reviews["neg"]) + [1] * len(reviews["pos"])
        offsets = np.cumsum([0] + [len(t) for t in texts])
        np.savez(root / f"{split}.npz", text_bytes=np.frombuffer(b"".join(texts), np.uint8),
                 offsets=offsets, labels=np.asarray(labels))


def _write_tfds(root):
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "text": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=["neg", "pos"]),
    })
    splits = {}
    for split, reviews in (("train", TRAIN), ("test", TEST)):
        texts = reviews["neg"] + reviews["pos"]
        splits[split] = {"text": texts, "label": [0] * len(reviews["neg"]) + [1] * len(reviews["pos"])}
    store_tfds(root, "imdb_reviews", "1.0.0", features, splits, config="plain_text")


@pytest.mark.parametrize("layout", ["aclimdb", "npz", "tfds"])
def test_every_layout_gives_the_same_examples(tmp_path, layout):
    {"aclimdb": _write_aclimdb, "npz": _write_npz, "tfds": _write_tfds}[layout](tmp_path)
    data = text.load_text(tmp_path, batch_size=4, max_length=100, validation_fraction=0.4, shuffle=False)
    assert data.info["layout"] == layout
    assert data.num_examples == {"train": 6, "validation": 4, "test": 4}
    assert (data.vocab_size, data.num_classes, data.labels) == (257, 2, ("neg", "pos"))
    decoded = {}
    for split in ("train", "validation", "test"):
        for x, y in check_split(data[split], data.num_examples[split], 4):
            check_tokens(x, 257, 100)
            assert y.dtype == np.int32
            for row, label in zip(x, y):
                review = bytes((row[row > 0] - 1).astype(np.uint8).tolist())
                decoded[review] = int(label)
    # Every review comes back byte for byte (truncated to max_length), with its label.
    expected = {}
    for reviews in (TRAIN, TEST):
        for label, polarity in enumerate(("neg", "pos")):
            for body in reviews[polarity]:
                expected[body[:100]] = label
    assert decoded == expected
    # Stratified hold-out: 2 of 5 per class.
    assert sorted(all_labels(data.validation).tolist()) == [0, 0, 1, 1]


def test_truncation_and_buckets(tmp_path):
    _write_npz(tmp_path)
    data = text.load_text(tmp_path, batch_size=16, validation_fraction=None)
    assert data.max_length == 4096
    widths = [x.shape[1] for x, _ in batches(data.train)]
    assert max(widths) == 4096  # the 5,000-byte review, truncated
    assert min(widths) == 64  # short reviews are not padded to 4,096
    # LRA convention: validation is the test set.
    assert data.num_examples == {"train": 10, "validation": 4, "test": 4}


def test_a_test_only_folder(tmp_path):
    _write_npz(tmp_path)
    (tmp_path / "train.npz").unlink()
    data = text.load_text(tmp_path, batch_size=16, shuffle=False)
    assert data.train is None and data.validation is None
    assert data.num_examples == {"train": 0, "validation": 0, "test": 4}
    assert sorted(all_labels(data.test).tolist()) == [0, 0, 1, 1]


def test_fit_one_step(tmp_path):
    _write_aclimdb(tmp_path)
    fit_one_step(text.load_text(tmp_path, batch_size=4, max_length=256))


def test_byte_encoding_is_bytes_plus_one():
    np.testing.assert_array_equal(text.encode_bytes(b"\x00A\xff"), [1, 66, 256])
    np.testing.assert_array_equal(text.encode_bytes("\u00e9", max_length=1), [0xC3 + 1])


def test_missing_data_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        text.load_text(tmp_path)
    message = str(error.value)
    assert "aclImdb" in message and "imdb_reviews" in message and "{train,test}.npz" in message
    assert "ai.stanford.edu" in message


def test_bad_arguments(tmp_path):
    _write_npz(tmp_path)
    with pytest.raises(ValueError, match="validation_fraction"):
        text.load_text(tmp_path, validation_fraction=1.5)
    with pytest.raises(ValueError, match="source"):
        text.load_text(tmp_path, source="csv")
    with pytest.raises(FileNotFoundError):
        text.load_text(tmp_path, source="aclimdb")  # the folder holds the npz layout


def _validation(folder, **kwargs):
    data = text.load_text(folder, batch_size=16, max_length=100, validation_fraction=0.4, shuffle=False,
                          bucket=False, **kwargs)
    (x, y), = batches(data.validation)
    return x, y


def test_validation_split_has_its_own_seed(tmp_path):
    # The shuffle seed must not choose the validation reviews: changing it
    # would silently change what the model is selected on.
    _write_npz(tmp_path)
    x0, y0 = _validation(tmp_path, seed=0)
    x1, y1 = _validation(tmp_path, seed=1)
    np.testing.assert_array_equal(x0, x1)
    np.testing.assert_array_equal(y0, y1)
    # `split_seed` alone moves it (2 of 5 per class: 100 possible splits; seeds 0 and 2 differ).
    x2, y2 = _validation(tmp_path, split_seed=2)
    assert not np.array_equal(x0, x2)
    assert sorted(y2.tolist()) == [0, 0, 1, 1]
    data = text.load_text(tmp_path, seed=3, split_seed=2)
    assert "split seed 2" in data.info["validation"]
    with pytest.raises(ValueError, match="split_seed"):
        text.load_text(tmp_path, split_seed=None)  # None would draw a different split every run
