import math
import os

import numpy as np
import pytest
from PIL import Image

from keras_ssm.data import pathfinder
from tests.data.helpers import all_labels, check_split, fit_one_step


def _segment_distance(a, b, samples=11):
    pa = np.linspace(a[0], a[1], samples)
    pb = np.linspace(b[0], b[1], samples)
    return np.sqrt(((pa[:, None] - pb[None]) ** 2).sum(-1)).min()


def _chained(curve, length, margin):
    """Each dash has the paddle length, and starts about `2 * margin` after the previous one ends."""
    for back, front in curve:
        assert math.dist(back, front) == pytest.approx(length)
    # Integer pivots (rounded up twice per step) add up to ~3 px to the 2m gap.
    return all(math.dist(d0[1], d1[0]) <= 2 * margin + 3 for d0, d1 in zip(curve, curve[1:]))


def _check_geometry(size, image, label, geometry, difficulty="hard", apart=True):
    settings = pathfinder.SETTINGS[size]
    contour_length = pathfinder.DIFFICULTIES[difficulty][1]
    assert image.shape == (size, size) and image.dtype == np.uint8
    assert image.max() == 255
    first, second = geometry["curves"]
    margin = geometry["margin"]
    assert margin in settings.margins
    for curve in (first, second):
        assert len(curve) == contour_length
        assert _chained(curve, settings.paddle_length, margin)
        for back, front in curve:  # every dash is drawn
            middle = np.round((np.asarray(back) + np.asarray(front)) / 2).astype(int)
            assert image[middle[0], middle[1]] > 0
    for curve in geometry["distractors"]:
        assert len(curve) == contour_length // 3 and _chained(curve, settings.paddle_length, margin)
    # The two target curves never touch (the release mode lets them come close, as the original).
    assert not apart or min(_segment_distance(a, b) for a in first for b in second) > 1.0
    # Markers: one on the origin tip of a target curve, one on a far tip;
    # on the same curve exactly when the label is 1.
    marker_a, marker_b = geometry["markers"]
    on_a, on_b = geometry["marker_curves"]
    curves = geometry["curves"]
    assert tuple(map(float, marker_a)) == curves[on_a][0][0]  # origin: the first dash's back end
    assert tuple(map(float, marker_b)) == curves[on_b][-1][1]  # far tip: the last dash's front end
    assert (on_a == on_b) == (label == 1)
    for marker in (marker_a, marker_b):
        assert image[marker] > 100  # drawn, bright


@pytest.mark.parametrize("label", [0, 1])
def test_markers_sit_on_one_curve_iff_positive(label):
    for seed in range(6):
        image, got, geometry = pathfinder.generate_image(32, label=label, seed=seed)
        assert got == label
        _check_geometry(32, image, label, geometry)


@pytest.mark.parametrize("size, seed", [(64, 0), (128, 1)])
def test_larger_sizes(size, seed):
    image, label, geometry = pathfinder.generate_image(size, label=seed % 2, seed=seed)
    _check_geometry(size, image, label, geometry)


@pytest.mark.parametrize("difficulty", ["easy", "intermediate"])
def test_difficulties(difficulty):
    image, label, geometry = pathfinder.generate_image(32, difficulty, label=1, seed=2)
    _check_geometry(32, image, label, geometry, difficulty)


# Measured by `python -m benchmarks pathfinder_reference` on drewlinsley/pathfinder (the
# generator of the LRA data) with LRA's 32 px settings: only these orientations can seed.
PUBLISHED_SEED_ORIENTATIONS_32 = list(range(-150, -120))


def test_release_mode_seeds_as_the_published_generator():
    assert pathfinder.seed_orientations(32) == PUBLISHED_SEED_ORIENTATIONS_32
    assert pathfinder.seed_orientations(32, "parameters") == list(range(-180, 180))
    assert len(pathfinder.seed_orientations(128, margin=3)) == 360
    placed = {"release": [], "parameters": []}
    for seed in range(24):
        for mode, counts in placed.items():
            image, label, geometry = pathfinder.generate_image(32, label=seed % 2, seed=seed, mode=mode)
            counts.append(len(geometry["distractors"]))
            if mode == "release":
                _check_geometry(32, image, label, geometry, apart=False)
                (r0, c0), (r1, c1) = geometry["curves"][0][0]  # the first target curve's seed dash
                degrees = math.degrees(math.atan2(r1 - r0, c1 - c0))
                assert -150.5 < degrees < -120.5
                for curve in geometry["distractors"]:
                    (r0, c0), (r1, c1) = curve[0]
                    assert -150.5 < math.degrees(math.atan2(r1 - r0, c1 - c0)) < -120.5
    # The published generator places 1.20 of the 5 distractors (benchmarks/results/pathfinder_fidelity.md).
    assert np.mean(placed["release"]) < 2.0 < 4.0 < np.mean(placed["parameters"])


def _marker_layers(monkeypatch):
    """Records, per generated image, each marker's own layer (float, 0..1) and the peak the image is scaled by."""
    from keras_ssm.data.pathfinder import generator

    drawn, draw = [], generator._Image.markers

    def recording(canvas, points):
        layer = draw(canvas, points)
        drawn.append(([draw(canvas, [p]) for p in points], max(float(canvas.image.max()), float(layer.max()))))
        return layer

    monkeypatch.setattr(generator._Image, "markers", recording)
    return drawn


def _centroid(layer, point, window=3):
    r, c = point
    rows, cols = np.mgrid[r - window:r + window + 1, c - window:c + window + 1]
    part = layer[r - window:r + window + 1, c - window:c + window + 1].astype(np.float64)
    return (rows * part).sum() / part.sum() - r, (cols * part).sum() / part.sum() - c


# The published generator's markers (benchmarks/results/pathfinder_fidelity.md, drewlinsley/pathfinder
# ab9c130): 8 px at or above half the peak, the peak at 1.0 of the marker contrast, the intensity-weighted
# centre (-0.24, -0.21) px from the marker point (a disk centred on the point's top-left sub-pixel).
@pytest.mark.parametrize("mode, size, lo, hi", [("release", 8, -0.30, -0.15), ("parameters", 10, 0.2, 0.32)])
def test_markers_are_drawn_as_the_published_generator_in_release_mode(monkeypatch, mode, size, lo, hi):
    drawn = _marker_layers(monkeypatch)
    checked = 0
    for seed in range(6):
        image, label, geometry = pathfinder.generate_image(32, label=seed % 2, seed=seed, mode=mode)
        layers, peak = drawn.pop()
        for layer, point in zip(layers, geometry["markers"]):
            assert 0.98 <= layer.max() <= 1.0
            # release: the saved image holds each marker whole at the image's scale (max-combined, as
            # the original; a curve may be brighter under it)
            on = layer >= layer.max() / 2
            assert mode != "release" or (image[on] >= np.round(layer[on] * 255 / peak) - 1).all()
            if min(point) >= 3 and max(point) <= 28:  # the whole marker inside the image
                assert (layer >= layer.max() / 2).sum() == size
                dr, dc = _centroid(layer, point)
                assert lo < dr < hi and lo < dc < hi, (dr, dc)
                checked += 1
    assert checked >= 6


def test_generation_is_deterministic_for_a_seed():
    a = pathfinder.generate_image(32, seed=11)
    b = pathfinder.generate_image(32, seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    assert not np.array_equal(a[0], pathfinder.generate_image(32, seed=12)[0])


def test_cli_writes_the_lra_layout_deterministically(tmp_path):
    args = ["--size", "32", "--n", "10", "--batch-size", "4", "--workers", "1", "--quiet", "--mode", "release"]
    assert pathfinder.main(["--out", str(tmp_path / "a"), *args]) == 0
    pathfinder.write_dataset(tmp_path / "b", 32, n=10, batch_size=4, mode="release")
    folder = tmp_path / "a" / "pathfinder32" / "curv_contour_length_14"
    assert sorted(os.listdir(folder / "metadata")) == ["0.npy", "1.npy", "2.npy"]
    labels = []
    for batch in range(3):
        lines = (folder / "metadata" / f"{batch}.npy").read_text().splitlines()
        for i, line in enumerate(lines):
            fields = line.split()
            assert fields[:3] == [f"imgs/{batch}", f"sample_{i}.png", str(i)]
            assert fields[4:9] == ["1", "14", "4", "2", "0.5"]  # continuity, lengths, paddle size
            labels.append(int(fields[3]))
            png = folder / fields[0] / fields[1]
            with Image.open(png) as img:
                assert img.mode == "L" and img.size == (32, 32)
            twin = tmp_path / "b" / "pathfinder32" / "curv_contour_length_14" / fields[0] / fields[1]
            assert png.read_bytes() == twin.read_bytes()
    assert sorted(labels) == [0] * 5 + [1] * 5  # exactly balanced


def test_labels_are_balanced():
    for n in (10, 11, 1000):
        counts = np.bincount(pathfinder.balanced_labels(n, seed=3), minlength=2)
        assert abs(counts[0] - counts[1]) <= 1


@pytest.mark.filterwarnings("ignore:Pathfinder. 1 of the 21 images")  # the later loads of the same folder
def test_loader_reads_the_lra_layout(tmp_path):
    folder = pathfinder.write_dataset(tmp_path, 32, n=21, batch_size=8)
    os.truncate(os.path.join(folder, "imgs", "0", "sample_3.png"), 0)  # LRA has one empty image
    with pytest.warns(UserWarning, match=r"1 of the 21 images listed .*\(imgs/0/sample_3\.png\)"):
        data = pathfinder.load_pathfinder(tmp_path, batch_size=4)
    assert data.num_examples == {"train": 16, "validation": 2, "test": 2}  # 17 / 2 / 2 listed, sample_3 in train
    assert (data.info["listed_images"], data.info["missing_images"]) == (21, 1)
    assert data.input_shape == (1024, 1) and data.num_classes == 2 and data.max_length == 1024
    for split in ("train", "validation", "test"):
        for x, y in check_split(data[split], data.num_examples[split], 4):
            assert x.dtype == np.float32 and x.shape[1:] == (1024, 1)
            assert 0.0 <= x.min() and x.max() == 1.0
            assert set(y.tolist()) <= {0, 1} and y.dtype == np.int32
    # The pixels are the PNG's, row-major, in [0, 1].
    ordered = pathfinder.load_pathfinder(folder, batch_size=32, split="ordered", shuffle=False)
    x, y = next(iter(ordered.train))
    first = np.asarray(Image.open(os.path.join(folder, "imgs", "0", "sample_0.png")))
    np.testing.assert_allclose(x.numpy()[0, :, 0], first.reshape(-1) / 255.0)
    tokens = pathfinder.load_pathfinder(tmp_path / "pathfinder32", scale="tokens")
    t, _ = next(iter(tokens.train))
    assert t.dtype.name == "int32" and tuple(t.shape[1:]) == (1024,) and int(t.numpy().min()) >= 1
    fit_one_step(data)


def test_split_is_seeded(tmp_path):
    pathfinder.write_dataset(tmp_path, 32, n=20)
    a = pathfinder.load_pathfinder(tmp_path, shuffle=False)
    b = pathfinder.load_pathfinder(tmp_path, shuffle=False)
    np.testing.assert_array_equal(all_labels(a.test), all_labels(b.test))
    assert a.info["split"] == "random 80/10/10, seed 42"


def test_missing_data_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        pathfinder.load_pathfinder(tmp_path)
    message = str(error.value)
    assert "metadata/<batch>.npy" in message and "curv_contour_length_14" in message
    assert "python -m keras_ssm.data.pathfinder" in message


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="size"):
        pathfinder.generate_image(48)
    with pytest.raises(ValueError, match="difficulty"):
        pathfinder.write_dataset(tmp_path, 32, n=2, difficulty="extreme")
    with pytest.raises(ValueError, match="mode"):
        pathfinder.generate_image(32, mode="lra")
    with pytest.raises(ValueError, match="size"):
        pathfinder.load_pathfinder(tmp_path, size=100)
    with pytest.raises(SystemExit):
        pathfinder.main(["--out", str(tmp_path), "--size", "100"])


def test_a_folder_with_only_test_npy_is_test_only(tmp_path):
    folder = pathfinder.write_dataset(tmp_path, 32, n=6, batch_size=6)
    os.rename(os.path.join(folder, "metadata", "0.npy"), os.path.join(folder, "metadata", "test.npy"))
    data = pathfinder.load_pathfinder(tmp_path, batch_size=4, shuffle=False)
    assert data.train is None and data.validation is None
    assert data.num_examples == {"train": 0, "validation": 0, "test": 6}
    assert data.info["split"] == "test only"
    x = np.concatenate([x.numpy() for x, _ in data.test])
    for i in range(6):  # every image, in metadata order
        png = np.asarray(Image.open(os.path.join(folder, "imgs", "0", f"sample_{i}.png")))
        np.testing.assert_allclose(x[i, :, 0], png.reshape(-1) / 255.0)


def test_split_indices_partition_the_images():
    for split in ("random", "ordered"):
        parts = pathfinder.split_indices(50, split)
        assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(50))
    assert pathfinder.split_indices(50, "ordered")["test"].tolist() == list(range(45, 50))


def test_a_missing_image_moves_no_other_image_to_another_split(tmp_path):
    """The split is drawn over the listed images: removing one file leaves every other image in its split
    (a permutation of the images present re-drew the whole split: test images became training images)."""
    folder = pathfinder.write_dataset(tmp_path, 32, n=40, batch_size=40)
    paths, _, present = pathfinder.read_listing(folder)
    assert present.all() and len(paths) == 40
    # Each image's bytes name it (40 distinct images), read back as tokens (intensity + 1).
    name_of = {(np.asarray(Image.open(p)).reshape(-1).astype(np.int32) + 1).tobytes(): os.path.basename(p)
               for p in paths}
    assert len(name_of) == 40

    def owners(data):
        return {split: {name_of[row.tobytes()] for x, _ in data[split] for row in x.numpy().astype(np.int32)}
                for split in ("train", "validation", "test")}

    complete = pathfinder.load_pathfinder(tmp_path, scale="tokens", shuffle=False, batch_size=40)
    assert complete.info["missing_images"] == 0
    before = owners(complete)
    assert sum(map(len, before.values())) == 40
    for split in ("test", "train"):
        gone = sorted(before[split])[0]
        kept = (tmp_path / gone).as_posix()
        os.rename(os.path.join(folder, "imgs", "0", gone), kept)
        with pytest.warns(UserWarning, match=rf"1 of the 40 images listed .*{gone}.*Restore the files"):
            data = pathfinder.load_pathfinder(tmp_path, scale="tokens", shuffle=False, batch_size=40)
        assert owners(data) == {name: images - {gone} for name, images in before.items()}
        assert data.info["missing_images"] == 1
        os.rename(kept, os.path.join(folder, "imgs", "0", gone))
