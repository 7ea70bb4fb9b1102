"""Pathfinder and Path-X (LRA): the loader.

An image holds two long dashed curves, short dashed distractor curves and two
disk markers; the label is 1 when both markers sit on the two ends of one
curve, 0 when they sit on ends of two different curves.

On disk (the LRA release) a dataset is
`pathfinder<size>/<difficulty>/{metadata,imgs}`: `metadata/<batch>.npy` are
text files with one line per image,
`imgs/<batch> sample_<i>.png <i> <label> <continuity> <contour_length>
<distractor_length> <paddle_length> <paddle_thickness> <margin> <n_contrasts>`,
and the images are 8-bit grayscale PNGs `imgs/<batch>/sample_<i>.png`.
Difficulty folders: `curv_baseline` (easy, 6 dashes per curve),
`curv_contour_length_9` (intermediate), `curv_contour_length_14` (hard: LRA
"Pathfinder" at 32 px and "Path-X" at 128 px).

A folder whose `metadata/` holds only `test.npy` is a test-only folder (all
its images are the test split; train and validation are None): how keras_ssm
bundles a few test images of a generated set (`examples/data/pathfinder32_test`).

The loader yields float32 `(batch, size * size, 1)` pixel sequences
(row-major) in [0, 1], [-1, 1] (S4's normalisation) or int32 tokens
(intensity + 1), with labels 0 / 1.
"""

import math
import os
import warnings

import numpy as np

from keras_ssm.data.base import TaskData, check_choice, check_data_dir, check_positive_int, missing_data
from keras_ssm.data.pathfinder.generator import DIFFICULTIES, SETTINGS

FOLDERS = {folder: name for name, (folder, _) in DIFFICULTIES.items()}
LABELS = ("different curves", "same curve")
SCALES = ("unit", "symmetric", "tokens")
SPLITS = ("random", "ordered")
TEST_ONLY = "test.npy"  # the one metadata file of a test-only folder

EXPECTED_LAYOUT = """\
  DATA_DIR/[pathfinder<size>/]<difficulty>/metadata/<batch>.npy   (text lines: imgs/<batch> sample_<i>.png <i> <label> ...)
  DATA_DIR/[pathfinder<size>/]<difficulty>/imgs/<batch>/sample_<i>.png
  with <difficulty> one of curv_baseline, curv_contour_length_9, curv_contour_length_14 (the LRA release layout)"""
WHERE = (
    "the LRA release (lra_release.gz: pathfinder32/, pathfinder64/, pathfinder128/), or generate it here: "
    "`python -m keras_ssm.data.pathfinder --out DATA_DIR --size 32`."
)


def find_folder(data_dir, size, difficulty):
    """The difficulty folder (holding `metadata/`) under `data_dir`, or None.

    >>> import tempfile
    >>> from keras_ssm.data.pathfinder.generator import write_dataset
    >>> root = tempfile.mkdtemp()
    >>> folder = write_dataset(root, 32, n=2)
    >>> find_folder(root, 32, "hard") == folder, find_folder(root, 32, "easy")
    (True, None)
    """
    name = DIFFICULTIES[difficulty][0]
    for folder in (os.path.join(data_dir, f"pathfinder{size}", name), os.path.join(data_dir, name), data_dir):
        if os.path.isdir(os.path.join(folder, "metadata")):
            return folder
    return None


def read_listing(folder):
    """`(paths, labels, present)` of every image listed in `folder/metadata/*.npy`
    (numeric file order, then line order): `present[i]` is False where the PNG
    is missing or empty (the LRA release has one empty image, S4 blacklists it).

    The listing, not the files on disk, fixes each image's position, and so
    its split (`split_indices`).

    >>> import tempfile
    >>> from keras_ssm.data.pathfinder.generator import write_dataset
    >>> folder = write_dataset(tempfile.mkdtemp(), 32, n=2, batch_size=1)
    >>> os.remove(os.path.join(folder, "imgs", "1", "sample_0.png"))
    >>> paths, labels, present = read_listing(folder)
    >>> len(paths), sorted(labels.tolist()), present.tolist()
    (2, [0, 1], [True, False])
    """
    meta = os.path.join(folder, "metadata")
    names = [f for f in os.listdir(meta) if f.endswith(".npy")]
    names.sort(key=lambda f: (int(f[:-4]) if f[:-4].isdigit() else math.inf, f))
    paths, labels, present = [], [], []
    for name in names:
        with open(os.path.join(meta, name)) as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) < 4:
                    raise ValueError(f"{meta}/{name}:{number}: expected `imgs/<batch> sample_<i>.png <i> <label> ...`.")
                path = os.path.join(folder, fields[0], fields[1])
                try:
                    readable = os.path.getsize(path) > 0
                except OSError:
                    readable = False
                paths.append(path)
                labels.append(int(fields[3]))
                present.append(readable)
    return paths, np.asarray(labels, np.int32), np.asarray(present, bool)


def read_metadata(folder):
    """`(paths, labels)` of every listed image whose PNG is there and not empty
    (numeric file order); see `read_listing`.

    >>> import tempfile
    >>> from keras_ssm.data.pathfinder.generator import write_dataset
    >>> folder = write_dataset(tempfile.mkdtemp(), 32, n=2, batch_size=1)
    >>> open(os.path.join(folder, "imgs", "1", "sample_0.png"), "w").close()  # empty, as one LRA image is
    >>> paths, labels = read_metadata(folder)
    >>> [os.path.relpath(p, folder) for p in paths], labels.shape
    (['imgs/0/sample_0.png'], (1,))
    """
    paths, labels, present = read_listing(folder)
    return [p for p, keep in zip(paths, present) if keep], labels[present]


def split_indices(n, split="random", split_seed=42):
    """`{"train", "validation", "test"}` -> indices into the metadata order of `n` listed images.

    `"random"`: a permutation with `split_seed`, then 80/10/10 (S4);
    `"ordered"`: first 80 % / next 10 % / last 10 % (LRA). `n` is the
    number of images the metadata lists, present or not: an image's split
    depends on its place in the listing only, so a missing file leaves every
    other image where it was.

    >>> {k: len(v) for k, v in split_indices(20).items()}
    {'train': 16, 'validation': 2, 'test': 2}
    """
    check_choice("split", split, SPLITS)
    order = np.random.default_rng(split_seed).permutation(n) if split == "random" else np.arange(n)
    n_val = n_test = max(1, n // 10)
    n_train = n - n_val - n_test
    return {"train": order[:n_train], "validation": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}


def _warn_missing(folder, paths, present):
    """Warns, naming the files, that listed images are missing or empty."""
    missing = [os.path.relpath(p, folder) for p, keep in zip(paths, present) if not keep]
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    warnings.warn(
        f"Pathfinder: {len(missing)} of the {len(paths):,} images listed in {folder}/metadata are missing or "
        f"empty ({shown}); they are left out of their splits, which stay as the listing fixes them (no other "
        "image changes split), but the split sizes and any figure measured on them differ from the complete "
        "data's. Restore the files (or re-generate the data) to reproduce a published figure.",
        UserWarning,
        stacklevel=3,
    )
    return len(missing)


def load_pathfinder(
    data_dir,
    *,
    size=32,
    difficulty="hard",
    batch_size=64,
    scale="unit",
    split="random",
    split_seed=42,
    shuffle=True,
    seed=0,
    drop_remainder=False,
):
    """Loads Pathfinder (`size` 32, 64) or Path-X (`size` 128) from the LRA folder layout.

    Args:
        data_dir: the LRA release root (holding `pathfinder<size>/`), the
            `pathfinder<size>` folder, or the difficulty folder itself.
        size: 32, 64, 128 or 256 (image side; sequence length `size ** 2`).
        difficulty: `"easy"`, `"intermediate"` or `"hard"` (LRA and S4 use hard).
        batch_size: examples per batch.
        scale: `"unit"` ([0, 1]), `"symmetric"` ([-1, 1], S4) or `"tokens"`
            (int32 ids = intensity + 1, `vocab_size` 257).
        split: `"random"`: a permutation with `split_seed`, then 80/10/10
            (S4); `"ordered"`: first 80 % / next 10 % / last 10 % in metadata
            order (LRA). Drawn over the images the metadata lists: a listed
            image whose PNG is missing or empty is left out of its own split
            (with a warning naming it; `info["missing_images"]` counts them)
            and every other image keeps its split.
        split_seed: seed of the random split (S4: 42).
        shuffle, seed, drop_remainder: see `batching.make_dataset`.

    Returns:
        `TaskData` whose datasets yield `(pixels, labels)`: float32
        `(batch, size * size, 1)` (int32 `(batch, size * size)` for tokens)
        and int32 labels (1 = both markers on one curve). PNGs are decoded
        lazily, in parallel.

    >>> import tempfile
    >>> from keras_ssm.data.pathfinder.generator import write_dataset
    >>> root = tempfile.TemporaryDirectory()
    >>> _ = write_dataset(root.name, 32, n=10)
    >>> data = load_pathfinder(root.name, batch_size=4)
    >>> x, y = next(iter(data.train))
    >>> tuple(x.shape), x.dtype.name, data.num_examples
    ((4, 1024, 1), 'float32', {'train': 8, 'validation': 1, 'test': 1})
    >>> root.cleanup()
    """
    import tensorflow as tf

    from keras_ssm.data.batching import make_dataset
    from keras_ssm.data.image import pixel_transform

    data_dir = check_data_dir("pathfinder", data_dir, EXPECTED_LAYOUT, WHERE)
    check_choice("size", size, tuple(SETTINGS))
    check_choice("difficulty", difficulty, tuple(DIFFICULTIES))
    check_choice("scale", scale, SCALES)
    check_choice("split", split, SPLITS)
    check_positive_int("batch_size", batch_size)
    folder = find_folder(data_dir, size, difficulty)
    if folder is None:
        raise missing_data("pathfinder", data_dir, EXPECTED_LAYOUT, WHERE)
    paths, labels, present = read_listing(folder)
    test_only = os.listdir(os.path.join(folder, "metadata")) == [TEST_ONLY]
    if present.sum() < (1 if test_only else 3):
        raise missing_data("pathfinder", data_dir, EXPECTED_LAYOUT,
                           WHERE + f"\n(found {int(present.sum())} readable images in {folder})")
    n = len(paths)
    if test_only:
        parts = {"train": None, "validation": None, "test": np.arange(n)}
    else:
        parts = split_indices(n, split, split_seed)
    # A missing image drops out of its own split only: the split is drawn over the listing.
    parts = {name: None if index is None else index[present[index]] for name, index in parts.items()}
    missing = 0 if present.all() else _warn_missing(folder, paths, present)
    transform = pixel_transform(scale)
    length = size * size
    paths = np.asarray(paths)
    datasets, sizes = {}, {}
    for name, index in parts.items():
        if index is None:
            datasets[name], sizes[name] = None, 0
            continue
        paths_t, labels_t = tf.constant(paths[index]), tf.constant(labels[index])

        def element(i, paths_t=paths_t, labels_t=labels_t):
            pixels = tf.io.decode_png(tf.io.read_file(paths_t[i]), channels=1)
            pixels = tf.reshape(tf.ensure_shape(pixels, (size, size, 1)), (length, 1))
            return transform(pixels), labels_t[i]

        datasets[name] = make_dataset(len(index), element, batch_size=batch_size,
                                      shuffle=shuffle and name == "train", seed=seed,
                                      drop_remainder=drop_remainder)
        sizes[name] = len(index)
    return TaskData(
        task="pathfinder" if size < 128 else "pathx",
        **datasets,
        num_classes=2,
        labels=LABELS,
        input_shape=(length,) if scale == "tokens" else (length, 1),
        input_dtype="int32" if scale == "tokens" else "float32",
        vocab_size=257 if scale == "tokens" else None,
        max_length=length,
        num_examples=sizes,
        info={"data_dir": folder, "layout": "lra_pathfinder", "size": size, "difficulty": difficulty,
              "scale": scale, "listed_images": n, "missing_images": missing,
              "split": "test only" if test_only else
                       f"{split} 80/10/10" + (f", seed {split_seed}" if split == "random" else "")},
    )
