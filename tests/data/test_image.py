import io

import numpy as np
import pytest

from keras_ssm.data import image
from tests.data.helpers import all_labels, batches, check_split, fit_one_step, store_tfds

PER_CLASS = 20  # training images per class in the fixtures (200 in 5 batches, 10 test images)


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 10


def _train_test():
    return _images(10 * PER_CLASS, 0), _images(10, 1)


def _chunks(x, y):
    return [(x[i::5], y[i::5]) for i in range(5)]


def _write_binary(root):
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    (train_x, train_y), (test_x, test_y) = _train_test()

    def records(x, y):
        planes = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)  # R, G, B planes, row-major
        return np.concatenate([y[:, None].astype(np.uint8), planes], axis=1).tobytes()

    for i, (x, y) in enumerate(_chunks(train_x, train_y), 1):
        (folder / f"data_batch_{i}.bin").write_bytes(records(x, y))
    (folder / "test_batch.bin").write_bytes(records(test_x, test_y))


def _write_npz(root):
    from PIL import Image

    for split, (x, y) in zip(("train", "test"), _train_test()):
        blobs = []
        for img in x:
            buffer = io.BytesIO()
            Image.fromarray(img).save(buffer, format="JPEG", quality=75)
            blobs.append(buffer.getvalue())
        np.savez(root / f"{split}.npz", jpeg_bytes=np.frombuffer(b"".join(blobs), np.uint8),
                 offsets=np.cumsum([0] + [len(b) for b in blobs]), labels=y,
                 class_names=np.asarray(image.LABELS))


def _write_tfds(root):
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "id": tfds.features.Text(),
        "image": tfds.features.Image(shape=(32, 32, 3)),
        "label": tfds.features.ClassLabel(names=list(image.LABELS)),
    })
    splits = {}
    for split, (x, y) in zip(("train", "test"), _train_test()):
        splits[split] = {"id": [f"{split}_{i}" for i in range(len(x))], "image": x, "label": y}
    store_tfds(root, "cifar10", "3.0.2", features, splits)


def _gray(x):
    return 0.2989 * x[..., 0] + 0.5870 * x[..., 1] + 0.1140 * x[..., 2]


@pytest.mark.parametrize("layout", ["binary", "tfds", "npz"])
def test_every_layout_gives_grayscale_sequences(tmp_path, layout):
    {"binary": _write_binary, "tfds": _write_tfds, "npz": _write_npz}[layout](tmp_path)
    data = image.load_image(tmp_path, batch_size=32, shuffle=False)
    assert data.info["layout"] == layout
    assert data.num_examples == {"train": 9 * PER_CLASS, "validation": PER_CLASS, "test": 10}
    assert data.input_shape == (1024, 1) and data.input_dtype == "float32" and data.num_classes == 10
    for split in ("train", "validation", "test"):
        for x, y in check_split(data[split], data.num_examples[split], 32):
            assert x.dtype == np.float32 and x.shape[1:] == (1024, 1)
            assert 0.0 <= x.min() and x.max() <= 1.0
            assert y.dtype == np.int32
    # 10 % of every class held out for validation.
    assert np.bincount(all_labels(data.validation), minlength=10).tolist() == [PER_CLASS // 10] * 10
    # The test images in order: LRA's grayscale, flattened row-major.
    x_test, y_test = _train_test()[1]
    if layout == "npz":  # lossy: compare with the decoded JPEGs instead
        from PIL import Image

        with np.load(tmp_path / "test.npz") as z:
            blobs = [z["jpeg_bytes"][z["offsets"][i]:z["offsets"][i + 1]].tobytes() for i in range(10)]
        x_test = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])
    x, y = batches(data.test)[0]
    np.testing.assert_array_equal(y, y_test)
    expected = _gray(x_test.astype(np.float64)).reshape(10, 1024) / 255.0
    assert np.abs(x[..., 0] - expected).max() <= 1.01 / 255.0


def test_scales_and_colour(tmp_path):
    _write_binary(tmp_path)
    tokens = image.load_image(tmp_path, scale="tokens", shuffle=False)
    x, _ = next(iter(tokens.test))
    assert x.dtype.name == "int32" and tuple(x.shape) == (10, 1024) and tokens.vocab_size == 257
    assert int(x.numpy().min()) >= 1  # id = intensity + 1, so 0 stays free
    symmetric = image.load_image(tmp_path, scale="symmetric", shuffle=False)
    s, _ = next(iter(symmetric.test))
    np.testing.assert_allclose(s.numpy()[..., 0], (x.numpy() - 1) / 127.5 - 1, atol=1e-6)
    rgb = image.load_image(tmp_path, grayscale=False, shuffle=False)
    c, _ = next(iter(rgb.test))
    assert tuple(c.shape) == (10, 1024, 3) and rgb.input_shape == (1024, 3)
    x_test = _train_test()[1][0]
    np.testing.assert_allclose(c.numpy(), x_test.reshape(10, 1024, 3) / 255.0, atol=1e-6)


def test_a_test_only_folder(tmp_path):
    _write_npz(tmp_path)
    (tmp_path / "train.npz").unlink()
    data = image.load_image(tmp_path, batch_size=4, shuffle=False)
    assert data.train is None and data.validation is None
    assert data.num_examples == {"train": 0, "validation": 0, "test": 10}
    assert sorted(all_labels(data.test).tolist()) == list(range(10))


def test_a_foreign_npz_is_named_as_missing_data(tmp_path):
    np.savez(tmp_path / "test.npz", text_bytes=np.zeros(3, np.uint8), offsets=[0, 3], labels=[0])
    with pytest.raises(FileNotFoundError, match=r"test.npz holds \['labels', 'offsets', 'text_bytes'\]"):
        image.load_image(tmp_path)


def test_fit_one_step(tmp_path):
    _write_binary(tmp_path)
    fit_one_step(image.load_image(tmp_path, batch_size=16))


def test_missing_data_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        image.load_image(tmp_path)
    message = str(error.value)
    assert "cifar-10-batches-bin" in message and "cifar10" in message and "pickled and not read" in message
    assert "cs.toronto.edu" in message


def test_bad_arguments(tmp_path):
    _write_binary(tmp_path)
    with pytest.raises(ValueError, match="scale"):
        image.load_image(tmp_path, scale="bytes")
    with pytest.raises(ValueError, match="grayscale"):
        image.load_image(tmp_path, scale="tokens", grayscale=False)


def _validation(folder, **kwargs):
    x, y = zip(*batches(image.load_image(folder, batch_size=64, shuffle=False, **kwargs).validation))
    return np.concatenate(x), np.concatenate(y)


def test_validation_split_has_its_own_seed(tmp_path):
    # The shuffle seed must not choose the validation images: changing it
    # would silently change what the model is selected on.
    _write_binary(tmp_path)
    x0, y0 = _validation(tmp_path, seed=0)
    x1, y1 = _validation(tmp_path, seed=1)
    np.testing.assert_array_equal(x0, x1)
    np.testing.assert_array_equal(y0, y1)
    # `split_seed` alone moves it, still stratified (2 of 20 per class).
    x2, y2 = _validation(tmp_path, split_seed=1)
    assert not np.array_equal(x0, x2)
    assert np.bincount(y2, minlength=10).tolist() == [PER_CLASS // 10] * 10
    data = image.load_image(tmp_path, seed=3, split_seed=1)
    assert "split seed 1" in data.info["validation"]


def test_cifar_normalisation_of_s4_and_s5(tmp_path):
    # S4 / S5 grayscale CIFAR: Normalize(mean=122.6/255, std=61.0/255) on [0, 1] pixels.
    _write_binary(tmp_path)
    tokens, _ = next(iter(image.load_image(tmp_path, scale="tokens", shuffle=False).test))
    x, _ = next(iter(image.load_image(tmp_path, scale="cifar", shuffle=False).test))
    pixels = tokens.numpy().astype(np.float64) - 1
    np.testing.assert_allclose(x.numpy()[..., 0], (pixels / 255 - 122.6 / 255) / (61.0 / 255), atol=1e-5)
    # RGB: S4's per-channel CIFAR-10 mean and std.
    c, _ = next(iter(image.load_image(tmp_path, scale="cifar", grayscale=False, shuffle=False).test))
    rgb = _train_test()[1][0].reshape(10, 1024, 3) / 255.0
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.247, 0.243, 0.261])
    np.testing.assert_allclose(c.numpy(), (rgb - mean) / std, atol=1e-5)


def test_bad_split_seed(tmp_path):
    _write_binary(tmp_path)
    with pytest.raises(ValueError, match="split_seed"):
        image.load_image(tmp_path, split_seed=None)  # None would draw a different split every run


def test_train_fraction_keeps_a_stratified_share_and_the_same_validation(tmp_path):
    _write_binary(tmp_path)
    full = image.load_image(tmp_path, batch_size=64, shuffle=False)
    half = image.load_image(tmp_path, batch_size=64, shuffle=False, train_fraction=0.5)
    x_full, y_full = (np.concatenate(p) for p in zip(*batches(full.train)))
    x_half, y_half = (np.concatenate(p) for p in zip(*batches(half.train)))
    # 18 of 20 images per class are trained on (2 are validation); half of them stay, from among them.
    assert np.bincount(y_half, minlength=10).tolist() == [9] * 10
    assert half.num_examples["train"] == 90 and half.num_examples["validation"] == full.num_examples["validation"]
    rows = {row.tobytes() for row in x_full}
    assert all(row.tobytes() in rows for row in x_half)
    np.testing.assert_array_equal(_validation(tmp_path, train_fraction=0.5)[0], _validation(tmp_path)[0])
    assert "50% of the rest" in half.info["train"]
    with pytest.raises(ValueError, match="train_fraction"):
        image.load_image(tmp_path, train_fraction=1.5)
