"""Raw-audio speech tasks: Speech Commands (SC35, SC10, SC12) and spoken digits (FSDD).

Audio is fed as raw samples, float32 `(batch, length, 1)` in [-1, 1)
(int16 / 32768), as S4 / S5 / DSS do for SC35 ("raw speech, length 16,000").
`sample_rate` resamples every clip with a polyphase filter
(`scipy.signal.resample_poly`): the zero-shot rate tests train at one rate and
evaluate at another (16 -> 8 kHz for Speech Commands, 8 -> 4 kHz for FSDD),
with the SSM's `step_scale` set to the rate ratio.

Speech Commands v0.02 (Warden 2018), clips padded with zeros (or cut) to
exactly one second:

- `classes=35` (SC35, S4 / S5): all 35 words; needs the extracted archive.
- `classes=10` (SC10): yes, no, up, down, left, right, on, off, stop, go.
- `classes=12` (the keyword-spotting task): `_silence_`, `_unknown_` and the
  10 words; from a TFDS `speech_commands` dir or the npz test set.

Layouts: the extracted archive (`<word>/<speaker>_nohash_<n>.wav`,
`validation_list.txt`, `testing_list.txt`; official splits), a TFDS data dir
with `speech_commands` prepared (its train / validation / test splits), or
the `part*.npz` files of the 12-class v0.02 test set (examples split by
their speaker-disjoint `fold`: by default folds 0-6 train, 7 validation, 8
test).

Free Spoken Digit Dataset (FSDD): 8 kHz recordings `<digit>_<speaker>_<index>.wav`
of variable length (0.14-2.28 s). Canonical split by repetition index: 0-4
test; of the rest, 5-9 validation by default and 10-49 train. Clips are
right-padded with zeros, bucketed by length; `return_mask=True` adds the
boolean mask of real samples to the inputs.
"""

import glob
import os
import re
import wave

import numpy as np

from keras_ssm.data import augment
from keras_ssm.data.augment import band_limit, resample
from keras_ssm.data.base import (
    concatenated_records,
    TaskData,
    check_choice,
    check_data_dir,
    check_positive_int,
    find_tfds_dir,
    missing_data,
    read_tfds,
)

SC35_LABELS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
    "visual", "wow", "yes", "zero",
)
SC10_LABELS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SC12_LABELS = ("_silence_", "_unknown_") + SC10_LABELS
SC_LABELS = {35: SC35_LABELS, 10: SC10_LABELS, 12: SC12_LABELS}
SC_RATE = 16000
FSDD_LABELS = tuple(str(d) for d in range(10))
FSDD_RATE = 8000

SC_LAYOUT = """\
  one of
  - DATA_DIR/[speech_commands_v0.02/]<word>/<speaker>_nohash_<n>.wav with validation_list.txt and
    testing_list.txt (the extracted speech_commands_v0.02.tar.gz; SC35 and SC10)
  - DATA_DIR/speech_commands/<version>/   (a TFDS data dir with speech_commands prepared; SC12 and SC10)
  - DATA_DIR/part*.npz with audio, labels, label_names, fold   (the 12-class v0.02 test set; SC12 and SC10)"""
SC_WHERE = (
    "Speech Commands v0.02, http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz "
    "(and speech_commands_test_set_v0.02.tar.gz), or `tfds.load('speech_commands', data_dir=DATA_DIR)` "
    "on a machine with network."
)
FSDD_LAYOUT = """\
  one of
  - DATA_DIR/[recordings/]<digit>_<speaker>_<index>.wav   (the FSDD repository's recordings/ folder)
  - DATA_DIR/{train,test}.npz with audio, offsets, labels, index, sample_rate
    (test.npz alone: the test split only, as the copy bundled for the zoo's evaluation)"""
FSDD_WHERE = "the Free Spoken Digit Dataset, https://github.com/Jakobovski/free-spoken-digit-dataset (recordings/)."


def read_wav(path):
    """`(samples, sample_rate)` of a 16-bit PCM wav file: int16 `(length,)` (first channel)."""
    with wave.open(path, "rb") as f:
        if f.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * f.getsampwidth()}-bit.")
        data = np.frombuffer(f.readframes(f.getnframes()), "<i2")
        return data.reshape(-1, f.getnchannels())[:, 0], f.getframerate()


def _fix_length(audio, length):
    """Pads with zeros at the end, or cuts, to `length` samples (last axis)."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
    return np.pad(audio, pad)


def _check_rate(sample_rate):
    check_positive_int("sample_rate", sample_rate)


# --------------------------------------------------------------------------
# Speech Commands


def _archive_root(data_dir):
    for root in (data_dir, os.path.join(data_dir, "speech_commands_v0.02")):
        if os.path.isfile(os.path.join(root, "testing_list.txt")) and \
                os.path.isfile(os.path.join(root, "validation_list.txt")):
            return root
    return None


def _npz_parts(data_dir):
    return sorted(glob.glob(os.path.join(data_dir, "part*.npz")))


def detect_speech_commands(data_dir):
    """`(layout, root)` of Speech Commands data under `data_dir`, or `(None, None)`."""
    root = _archive_root(data_dir)
    if root:
        return "archive", root
    tfds_dir = find_tfds_dir(data_dir, "speech_commands")
    if tfds_dir:
        return "tfds", tfds_dir
    if _npz_parts(data_dir):
        return "npz", data_dir
    return None, None


def _sc_archive(root, labels, sample_rate, batch_size, shuffle, seed, drop_remainder):
    """Lazy datasets over the extracted archive: WAVs decoded by tf.data in parallel."""
    import tensorflow as tf

    from keras_ssm.data.batching import make_dataset

    missing = [w for w in labels if not os.path.isdir(os.path.join(root, w))]
    if missing:
        raise missing_data("speech_commands", root, SC_LAYOUT, SC_WHERE + f"\nMissing word folders: {missing}")

    def listed(name):
        with open(os.path.join(root, name)) as f:
            return {line.strip() for line in f if line.strip()}

    held = {"validation": listed("validation_list.txt"), "test": listed("testing_list.txt")}
    files = {"train": [], "validation": [], "test": []}
    for label, word in enumerate(labels):
        for path in sorted(glob.glob(os.path.join(root, word, "*.wav"))):
            rel = f"{word}/{os.path.basename(path)}"
            split = "test" if rel in held["test"] else "validation" if rel in held["validation"] else "train"
            files[split].append((path, label))
    length = sample_rate  # one second, whatever the rate

    datasets, sizes = {}, {}
    for split, items in files.items():
        paths = tf.constant([p for p, _ in items] or [""], tf.string)
        ys = tf.constant(np.asarray([y for _, y in items] or [0], np.int32))

        def element(i, paths=paths, ys=ys):
            audio, _ = tf.audio.decode_wav(tf.io.read_file(paths[i]), desired_channels=1)
            audio = audio[:SC_RATE, 0]
            audio = tf.pad(audio, [[0, SC_RATE - tf.shape(audio)[0]]])
            if sample_rate != SC_RATE:
                audio = tf.numpy_function(lambda a: resample(a, SC_RATE, sample_rate), [audio], tf.float32)
            return tf.reshape(audio, (length, 1)), ys[i]

        datasets[split] = make_dataset(len(items), element, batch_size=batch_size,
                                       shuffle=shuffle and split == "train", seed=seed,
                                       drop_remainder=drop_remainder)
        sizes[split] = len(items)
    return datasets, sizes, length


def _sc_tfds(path, labels, sample_rate, batch_size, shuffle, seed, drop_remainder):
    """Datasets read from a prepared TFDS `speech_commands` folder (streamed)."""
    import tensorflow as tf

    builder, features = read_tfds(path)
    names = tuple(features["label"].names)
    unknown = set(names) - set(SC12_LABELS)
    if unknown:
        raise ValueError(f"{path}: unexpected speech_commands labels {sorted(unknown)}.")
    # TFDS orders its labels words-first; map them to ours (by name), -1 = dropped.
    remap = tf.constant([labels.index(n) if n in labels else -1 for n in names], tf.int32)
    length = sample_rate  # one second, whatever the rate
    datasets, sizes = {}, {}
    for split, tfds_split in (("train", "train"), ("validation", "validation"), ("test", "test")):
        ds = builder.as_dataset(split=tfds_split, shuffle_files=False)
        ds = ds.map(lambda e: (e["audio"], tf.gather(remap, tf.cast(e["label"], tf.int32))))
        ds = ds.filter(lambda audio, y: y >= 0)
        count = None
        if len(labels) == len(names):
            count = builder.info.splits[tfds_split].num_examples
        if shuffle and split == "train":
            ds = ds.shuffle(16384, seed=seed, reshuffle_each_iteration=True)

        def prepare(audio, y):
            audio = tf.cast(audio[:SC_RATE], tf.float32) / 32768.0
            audio = tf.pad(audio, [[0, SC_RATE - tf.shape(audio)[0]]])
            if sample_rate != SC_RATE:
                audio = tf.numpy_function(lambda a: resample(a, SC_RATE, sample_rate), [audio], tf.float32)
            return tf.reshape(audio, (length, 1)), y

        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if count is not None:
            batches = count // batch_size if drop_remainder else -(-count // batch_size)
            ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
        datasets[split] = ds.prefetch(tf.data.AUTOTUNE)
        sizes[split] = count
    return datasets, sizes, length


def _augmenter(train_audio, noise, sample_rate, options, labels):
    """The training split's per-clip augmentation, or None when off.

    Returns `apply(i, audio, label) -> (audio, label)` (tf ops, run per
    element): the label changes only for an edge window (`edge_probability`).
    """
    import tensorflow as tf

    if not any(options[k] for k in ("time_shift", "gain_db", "speed_change", "noise_probability",
                                    "edge_probability")) and options["band_limit_rate"] is None:
        return None
    limited = limited_noise = None
    if options["band_limit_rate"] is not None:
        limited = tf.constant(np.stack([augment.band_limit(a, sample_rate, options["band_limit_rate"])
                                        for a in train_audio]))
        limited_noise = tf.constant(np.stack([augment.band_limit(a, sample_rate, options["band_limit_rate"])
                                              for a in noise])) if len(noise) else None
    noise_t = tf.constant(noise) if len(noise) else None
    max_shift = int(round(options["time_shift"] * sample_rate))
    edge = None
    if options["edge_probability"]:
        chunks = [augment.energy_profile(train_audio[k:k + 256], sample_rate)  # float64 work arrays, in chunks
                  for k in range(0, len(train_audio), 256)]
        cumulative, background = (np.concatenate(parts) for parts in zip(*chunks))
        edge = {"cumulative": tf.constant(cumulative), "background": tf.constant(background),
                "frame": max(1, int(sample_rate * augment.EDGE_FRAME_SECONDS)),
                "keywords": tf.constant([n not in ("_silence_", "_unknown_") for n in labels]),
                "unknown": labels.index("_unknown_")}

    def moved(audio):
        # Speed and time shift move the word in time: an edge window, a shift
        # itself, takes their place (its label holds for where it put the word).
        if options["speed_change"]:
            audio = augment.random_speed(audio, options["speed_change"])
        if max_shift:
            audio = augment.random_shift(audio, max_shift)
        return audio

    def apply(i, audio, label):
        use_limited = tf.constant(False)
        if limited is not None:
            use_limited = tf.random.uniform([]) < options["band_limit_probability"]
            audio = tf.cond(use_limited, lambda: limited[i], lambda: audio)

        def noise_clips():  # the band-limited noise clips for a band-limited clip
            if noise_t is None or limited_noise is None:
                return noise_t
            return tf.cond(use_limited, lambda: limited_noise, lambda: noise_t)

        if edge is None:
            audio = moved(audio)
        else:
            def edge_window():
                shifted, inside, _ = augment.edge_window(audio, edge["cumulative"][i], edge["frame"],
                                                         edge["background"][i], noise_clips())
                cut = edge["keywords"][label] & (inside < 0.5)
                return shifted, tf.where(cut, tf.constant(edge["unknown"], label.dtype), label)

            audio, label = tf.cond(tf.random.uniform([]) < options["edge_probability"], edge_window,
                                   lambda: (moved(audio), label))
        if options["gain_db"]:
            audio = augment.random_gain(audio, options["gain_db"])
        if options["noise_probability"] and noise_t is not None:
            audio = augment.mix_noise(audio, noise_clips(), options["noise_probability"], options["noise_volume"])
        return audio, label

    return apply


def _sc_npz(data_dir, labels, sample_rate, batch_size, shuffle, seed, drop_remainder,
            validation_folds, test_folds, augmentation):
    """In-memory datasets from the npz test-set parts, split by speaker fold."""
    import tensorflow as tf

    from keras_ssm.data.batching import make_dataset

    audio, y, folds = [], [], []
    names = None
    for part in _npz_parts(data_dir):
        with np.load(part) as z:
            audio.append(z["audio"])
            part_names = tuple(str(n) for n in z["label_names"])
            if names is not None and part_names != names:
                raise ValueError(f"{part}: label_names differ from the other parts.")
            names = part_names
            y.append(z["labels"])
            folds.append(z["fold"])
            if "sample_rate" in z and int(z["sample_rate"]) != SC_RATE:
                raise ValueError(f"{part}: expected {SC_RATE} Hz audio, got {int(z['sample_rate'])}.")
    audio, y, folds = np.concatenate(audio), np.concatenate(y), np.concatenate(folds)
    remap = np.array([labels.index(n) if n in labels else -1 for n in names])
    is_noise = np.array(names)[y] == "_silence_"
    y = remap[y]
    audio = _fix_length(audio, SC_RATE)
    length = None
    datasets, sizes = {}, {}
    test_folds, validation_folds = set(test_folds), set(validation_folds)
    masks = {
        "train": ~np.isin(folds, list(test_folds | validation_folds)),
        "validation": np.isin(folds, list(validation_folds)),
        "test": np.isin(folds, list(test_folds)),
    }
    for split, mask in masks.items():
        keep = mask & (y >= 0)
        if not keep.any():  # e.g. a folder with the test fold only
            datasets[split], sizes[split] = None, 0
            continue
        # Resampled in numpy once (a few thousand clips), then kept as float32.
        x = resample(audio[keep].astype(np.float32) / 32768.0, SC_RATE, sample_rate)
        length = x.shape[1]
        x_t, y_t = tf.constant(x), tf.constant(y[keep].astype(np.int32))
        augment = None
        if split == "train":
            noise = resample(audio[mask & is_noise].astype(np.float32) / 32768.0, SC_RATE, sample_rate)
            augment = _augmenter(x, noise, sample_rate, augmentation, labels)

        def element(i, x_t=x_t, y_t=y_t, augment=augment):
            audio, label = x_t[i], y_t[i]
            if augment is not None:
                audio, label = augment(i, audio, label)
            return audio[:, None], label

        datasets[split] = make_dataset(int(keep.sum()), element, batch_size=batch_size,
                                       shuffle=shuffle and split == "train", seed=seed,
                                       drop_remainder=drop_remainder)
        sizes[split] = int(keep.sum())
    return datasets, sizes, length


def load_speech_commands(
    data_dir,
    *,
    classes=35,
    sample_rate=16000,
    batch_size=32,
    source="auto",
    validation_folds=(7,),
    test_folds=(8,),
    shuffle=True,
    seed=0,
    drop_remainder=False,
    time_shift=0.0,
    gain_db=0.0,
    speed_change=0.0,
    noise_probability=0.0,
    noise_volume=0.1,
    band_limit_rate=None,
    band_limit_probability=0.5,
    edge_probability=0.0,
):
    """Loads Speech Commands v0.02 as raw audio (SC35, SC10 or SC12).

    Args:
        data_dir: folder in one of the layouts of the module docstring.
        classes: 35 (all words; archive only), 10 (the ten command words) or
            12 (silence, unknown and the ten words; TFDS dir or npz).
        sample_rate: output rate in Hz (16000 = native; 8000 for the
            zero-shot test). Sequence length = `sample_rate` (one second).
        batch_size: examples per batch.
        source: `"auto"`, `"archive"`, `"tfds"` or `"npz"`.
        validation_folds, test_folds: speaker folds (0-9) of the npz layout;
            the other folds are training data.
        shuffle, seed, drop_remainder: see `batching.make_dataset`.
        time_shift, gain_db, speed_change, noise_probability, noise_volume,
            band_limit_rate, band_limit_probability: augmentation of the
            training split, drawn anew for every clip each epoch (npz layout;
            all off by default): a shift by up to `time_shift` seconds, a gain
            within ±`gain_db` dB, a speed within 1 ± `speed_change`, the
            training split's `_silence_` noise clips mixed in with that
            probability at a volume up to `noise_volume`, and (first) a
            low-pass to what a `band_limit_rate` Hz recording holds with its
            probability (`keras_ssm.data.augment`).
        edge_probability: share of training clips turned into edge windows
            (SC12, npz layout; 0 = off), in [0, 1]; see below.

    Edge windows (`edge_probability`) train a keyword spotter on what a 1 s
    window sliding over a stream shows it (`keras_ssm.data.keyword_stream`):
    words cut by the window's edge. With that probability, drawn anew for
    every clip each epoch, a training clip is shifted left or right (equal
    odds) by an offset drawn so that a share uniform in [0, 1] of its word's
    energy stays inside the window; the word is located by its energy above
    the clip's noise floor, measured once per clip in 10 ms frames
    (`augment.energy_profile`: the floor is the 10th percentile of the frame
    powers, or -30 dB below the loudest frame if that is higher). The label
    follows the stream's detection rule: a keyword keeps its label if at
    least half of its energy stays inside, and becomes `_unknown_` otherwise
    (speech, but not enough of a keyword), so about half of the keywords'
    edge windows move to `_unknown_`; `_silence_` and `_unknown_` clips keep
    theirs.
    The gap is filled with one of the training split's `_silence_` noise
    clips scaled to the clip's own background level (zeros if the split has
    none or the clip's background is digital silence). An edge window takes
    the place of `speed_change` and `time_shift` for that clip (they would
    move the word across the edge after its label was set); band limiting,
    gain and noise mixing apply as to any clip. Validation and test clips are
    never changed.

    Returns:
        `TaskData` whose datasets yield `(audio, labels)`: float32
        `(batch, sample_rate, 1)` in [-1, 1) and int32 labels indexing
        `labels` (`SC35_LABELS`, `SC10_LABELS` or `SC12_LABELS`).
        `num_examples` is None for a filtered TFDS split (unknown until read).

    >>> data = load_speech_commands("path/to/speech_commands_v0.02", classes=35)  # doctest: +SKIP
    >>> x, y = next(iter(data.train))                                            # doctest: +SKIP
    >>> x.shape                                                                  # doctest: +SKIP
    TensorShape([32, 16000, 1])
    """
    data_dir = check_data_dir("speech_commands", data_dir, SC_LAYOUT, SC_WHERE)
    check_choice("classes", classes, (35, 10, 12))
    check_choice("source", source, ("auto", "archive", "tfds", "npz"))
    _check_rate(sample_rate)
    check_positive_int("batch_size", batch_size)
    for name, folds in (("validation_folds", validation_folds), ("test_folds", test_folds)):
        if isinstance(folds, (str, bytes)) or not hasattr(folds, "__iter__") or not all(
                isinstance(f, (int, np.integer)) and not isinstance(f, bool) and 0 <= f <= 9 for f in folds):
            raise ValueError(f"`{name}` must be a list of fold numbers in 0..9 (e.g. [7]), got {folds!r}.")
    for name, value in (("time_shift", time_shift), ("gain_db", gain_db), ("speed_change", speed_change),
                        ("noise_volume", noise_volume)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"`{name}` must be a number >= 0, got {value!r}.")
    if not 0 <= speed_change < 1:
        raise ValueError(f"`speed_change` must lie in [0, 1), got {speed_change!r}.")
    for name, value in (("noise_probability", noise_probability), ("band_limit_probability", band_limit_probability),
                        ("edge_probability", edge_probability)):
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not number or not 0 <= value <= 1:
            raise ValueError(f"`{name}` must be a number in [0, 1] (a probability), got {value!r}.")
    if band_limit_rate is not None and not 0 < band_limit_rate < sample_rate:
        raise ValueError(
            f"`band_limit_rate` must be None or between 0 and `sample_rate` ({sample_rate}); got {band_limit_rate!r}."
        )
    augmentation = {"time_shift": time_shift, "gain_db": gain_db, "speed_change": speed_change,
                    "noise_probability": noise_probability, "noise_volume": noise_volume,
                    "band_limit_rate": band_limit_rate, "band_limit_probability": band_limit_probability,
                    "edge_probability": edge_probability}
    shared = sorted(int(f) for f in set(validation_folds) & set(test_folds))
    if shared:
        # A fold on both sides would let a choice made on validation see test speakers.
        raise ValueError(
            f"`validation_folds` {list(validation_folds)} and `test_folds` {list(test_folds)} overlap in "
            f"fold(s) {shared}: a speaker fold belongs to one split only; drop {shared} from one of them "
            "(the default is validation [7], test [8])."
        )
    layout, root = detect_speech_commands(data_dir)
    if layout is None or (source != "auto" and source != layout):
        raise missing_data("speech_commands", data_dir, SC_LAYOUT, SC_WHERE)
    labels = SC_LABELS[classes]
    if layout == "archive" and classes == 12:
        raise ValueError(
            "classes=12 (with _silence_ / _unknown_) is not built from the extracted archive; "
            "use a TFDS speech_commands data dir or the 12-class npz test set, or classes=35 / 10."
        )
    if layout != "archive" and classes == 35:
        raise ValueError(
            f"classes=35 needs the extracted speech_commands_v0.02 archive: the {layout} layout "
            "only has the 12-class task (other words are merged into _unknown_). Use classes=12 or 10."
        )
    common = (labels, sample_rate, batch_size, shuffle, seed, drop_remainder)
    augmented = any(augmentation[k] for k in ("time_shift", "gain_db", "speed_change", "noise_probability",
                                              "edge_probability")) or band_limit_rate is not None
    if augmented and layout != "npz":
        raise ValueError(f"Augmentation is built for the npz layout; the {layout} layout in {root} loads "
                         "without it: leave time_shift, gain_db, speed_change, noise_probability, "
                         "band_limit_rate and edge_probability at their defaults.")
    if edge_probability and "_unknown_" not in labels:
        raise ValueError(f"`edge_probability` needs the `_unknown_` class, which a window holding less than "
                         f"half of a word is labelled; classes={classes} has none: use classes=12, or leave "
                         f"edge_probability at 0.")
    if layout == "archive":
        datasets, sizes, length = _sc_archive(root, *common)
    elif layout == "tfds":
        datasets, sizes, length = _sc_tfds(root, *common)
    else:
        datasets, sizes, length = _sc_npz(root, *common, validation_folds, test_folds, augmentation)
    return TaskData(
        task=f"sc{classes}",
        **datasets,
        num_classes=classes,
        labels=labels,
        input_shape=(length, 1),
        input_dtype="float32",
        vocab_size=None,
        max_length=length,
        num_examples=sizes,
        info={"data_dir": root, "layout": layout, "sample_rate": sample_rate,
              "native_sample_rate": SC_RATE, "preprocessing": "int16 / 32768, zero-padded to 1 s"
              + (f", resampled {SC_RATE} -> {sample_rate} Hz" if sample_rate != SC_RATE else ""),
              **({"validation_folds": tuple(validation_folds), "test_folds": tuple(test_folds)}
                 if layout == "npz" else {}),
              **({"augmentation": augmentation} if augmented else {})},
    )


# --------------------------------------------------------------------------
# Free Spoken Digit Dataset

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def _fsdd_recordings(data_dir):
    for root in (os.path.join(data_dir, "recordings"), data_dir):
        if os.path.isdir(root) and any(_FSDD_NAME.match(f) for f in os.listdir(root)):
            return root
    return None


def _read_fsdd_folder(root):
    clips, labels, index = [], [], []
    names = sorted(f for f in os.listdir(root) if _FSDD_NAME.match(f))
    for name in names:
        digit, _, repetition = _FSDD_NAME.match(name).groups()
        audio, rate = read_wav(os.path.join(root, name))
        if rate != FSDD_RATE:
            raise ValueError(f"{root}/{name}: expected {FSDD_RATE} Hz, got {rate}.")
        clips.append(audio)
        labels.append(int(digit))
        index.append(int(repetition))
    return clips, np.asarray(labels, np.int32), np.asarray(index)


def _read_fsdd_npz(root):
    clips, labels, index = [], [], []
    for split in ("train", "test"):
        if split == "train" and not os.path.isfile(os.path.join(root, "train.npz")):
            continue
        with np.load(os.path.join(root, f"{split}.npz")) as z:
            if not {"audio", "offsets", "labels", "index"} <= set(z.files):
                raise missing_data("fsdd", root, FSDD_LAYOUT, FSDD_WHERE + f"\n({split}.npz holds {sorted(z.files)})")
            if "sample_rate" in z and int(z["sample_rate"]) != FSDD_RATE:
                raise ValueError(f"{root}/{split}.npz: expected {FSDD_RATE} Hz, got {int(z['sample_rate'])}.")
            clips += concatenated_records(z, "audio")
            labels.append(z["labels"])
            index.append(z["index"])
    return clips, np.concatenate(labels).astype(np.int32), np.concatenate(index)


def load_spoken_digits(
    data_dir,
    *,
    sample_rate=8000,
    batch_size=32,
    validation_indices=range(5, 10),
    test_indices=range(0, 5),
    max_length=None,
    return_mask=False,
    source="auto",
    bucket=True,
    shuffle=True,
    seed=0,
    drop_remainder=False,
    band_limit_rate=None,
    band_limit_probability=0.5,
):
    """Loads the Free Spoken Digit Dataset as raw audio (10 classes, variable length).

    Args:
        data_dir: the `recordings/` folder (or its parent), or a folder with
            `train.npz` / `test.npz`.
        sample_rate: output rate in Hz (8000 = native; 4000 for the zero-shot
            test, 16000 for Speech-Commands-rate models).
        batch_size: examples per batch.
        validation_indices, test_indices: repetition indices (0-49) of each
            split (canonical test: 0-4); the rest is training data.
        max_length: clips longer than this many samples (after resampling)
            are cut; None keeps every clip whole.
        return_mask: inputs become `(audio, mask)` with `mask` bool
            `(batch, length)` True at real samples.
        source: `"auto"`, `"recordings"` or `"npz"`.
        bucket, shuffle, seed, drop_remainder: see `batching.make_dataset`
            (buckets from 1,024 samples).
        band_limit_rate: augmentation of the training split (None: off):
            each epoch, a clip is low-passed to what a `band_limit_rate` Hz
            recording holds (`augment.band_limit`) with probability
            `band_limit_probability`, for zero-shot robustness at that rate.
        band_limit_probability: that probability, in [0, 1].

    Returns:
        `TaskData` whose datasets yield `(audio, labels)`: float32
        `(batch, length, 1)` zero-padded (or `((audio, mask), labels)`), int32
        labels 0-9.

    >>> data = load_spoken_digits("path/to/free-spoken-digit-dataset/recordings")  # doctest: +SKIP
    >>> x, y = next(iter(data.train))                                               # doctest: +SKIP
    >>> x.shape[-1], x.dtype.name                                                   # doctest: +SKIP
    (1, 'float32')
    """
    import tensorflow as tf

    from keras_ssm.data.batching import sequence_datasets

    data_dir = check_data_dir("fsdd", data_dir, FSDD_LAYOUT, FSDD_WHERE)
    _check_rate(sample_rate)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_length", max_length, allow_none=True)
    check_choice("source", source, ("auto", "recordings", "npz"))
    if band_limit_rate is not None and not 0 < band_limit_rate < sample_rate:
        raise ValueError(
            f"`band_limit_rate` must be None or between 0 and `sample_rate` ({sample_rate}); got {band_limit_rate!r}."
        )
    if not 0 <= band_limit_probability <= 1:
        raise ValueError(f"`band_limit_probability` must lie in [0, 1]; got {band_limit_probability!r}.")
    validation_indices, test_indices = set(validation_indices), set(test_indices)
    if validation_indices & test_indices:
        raise ValueError("`validation_indices` and `test_indices` overlap.")
    root = _fsdd_recordings(data_dir)
    layout = "recordings" if root else None
    if layout is None and os.path.isfile(os.path.join(data_dir, "test.npz")):
        layout, root = "npz", data_dir
    if layout is None or (source != "auto" and source != layout):
        raise missing_data("fsdd", data_dir, FSDD_LAYOUT, FSDD_WHERE)
    clips, labels, index = _read_fsdd_folder(root) if layout == "recordings" else _read_fsdd_npz(root)
    clips = [resample(c.astype(np.float32) / 32768.0, FSDD_RATE, sample_rate)[:max_length] for c in clips]
    longest = max(len(c) for c in clips)
    splits = {
        "train": ~np.isin(index, list(validation_indices | test_indices)),
        "validation": np.isin(index, list(validation_indices)),
        "test": np.isin(index, list(test_indices)),
    }

    def chosen_clips():
        for split, mask in splits.items():
            chosen = np.flatnonzero(mask)
            if not len(chosen):  # a test-only folder
                yield split, None
                continue
            audio = [clips[i] for i in chosen]
            if split == "train" and band_limit_rate is not None:
                audio = audio, [band_limit(clips[i], sample_rate, band_limit_rate) for i in chosen]
            yield split, (audio, labels[chosen])

    def inputs(rows, i):
        limited = None
        if isinstance(rows, tuple):  # the training clips and their band-limited copies
            rows, limited = rows
        audio = rows[i]
        if limited is not None:
            audio = tf.cond(tf.random.uniform([]) < band_limit_probability, lambda: limited[i], lambda: audio)
        if return_mask:
            return audio[:, None], tf.ones_like(audio, tf.bool)
        return audio[:, None]

    datasets, sizes = sequence_datasets(
        chosen_clips(), inputs, dtype=np.float32, shuffle=shuffle, batch_size=batch_size,
        max_length=longest, seed=seed, bucket=bucket, min_bucket=1024, drop_remainder=drop_remainder,
    )
    return TaskData(
        task="fsdd",
        **datasets,
        num_classes=10,
        labels=FSDD_LABELS,
        input_shape=(None, 1),
        input_dtype="float32",
        vocab_size=None,
        max_length=longest,
        num_examples=sizes,
        info={"data_dir": root, "layout": layout, "sample_rate": sample_rate,
              "native_sample_rate": FSDD_RATE, "return_mask": return_mask,
              "preprocessing": "int16 / 32768, zero-padded per bucket"
              + (f", resampled {FSDD_RATE} -> {sample_rate} Hz" if sample_rate != FSDD_RATE else "")
              + (f"; training clips band-limited to {band_limit_rate} Hz with probability "
                 f"{band_limit_probability}" if band_limit_rate is not None else "")},
    )
