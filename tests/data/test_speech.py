import wave

import numpy as np
import pytest
from scipy.signal import resample_poly

from keras_ssm.data import speech
from tests.data.helpers import all_labels, batches, check_split, fit_one_step, store_tfds


def _write_wav(path, samples, rate):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples, "<i2").tobytes())


def _clip(seed, length):
    return np.random.default_rng(seed).integers(-20000, 20000, length).astype(np.int16)


# --------------------------------------------------------------------------
# Speech Commands: the extracted archive


def _write_archive(root):
    """3 clips per word (train / validation / test), short ones to check the zero padding."""
    base = root / "speech_commands_v0.02"
    clips = {}
    listed = {"validation": [], "test": []}  # train = every clip on neither list
    for w, word in enumerate(speech.SC35_LABELS):
        (base / word).mkdir(parents=True)
        for k, split in enumerate(("train", "validation", "test")):
            name = f"{w:02d}{k}abcd_nohash_0.wav"
            samples = _clip(3 * w + k, 16000 if k == 0 else 1600 + 100 * w)
            _write_wav(base / word / name, samples, 16000)
            clips[(word, split)] = samples
            if split in listed:
                listed[split].append(f"{word}/{name}")
    (base / "_background_noise_").mkdir()
    _write_wav(base / "_background_noise_" / "noise.wav", _clip(0, 32000), 16000)
    (base / "validation_list.txt").write_text("\n".join(listed["validation"]) + "\n")
    (base / "testing_list.txt").write_text("\n".join(listed["test"]) + "\n")
    return clips


def _expected(samples, rate=16000):
    audio = np.zeros(16000, np.float32)
    audio[:len(samples)] = samples / 32768.0
    return resample_poly(audio, rate, 16000).astype(np.float32) if rate != 16000 else audio


def test_sc35_from_the_archive(tmp_path):
    clips = _write_archive(tmp_path)
    data = speech.load_speech_commands(tmp_path, classes=35, batch_size=16, shuffle=False)
    assert data.num_examples == {"train": 35, "validation": 35, "test": 35}
    assert data.input_shape == (16000, 1) and data.num_classes == 35 and data.labels == speech.SC35_LABELS
    for split in ("train", "validation", "test"):
        got = check_split(data[split], 35, 16)
        x = np.concatenate([b[0] for b in got])
        y = np.concatenate([b[1] for b in got])
        assert x.dtype == np.float32 and x.shape == (35, 16000, 1) and y.dtype == np.int32
        np.testing.assert_array_equal(y, np.arange(35))
        for label in (0, 17, 34):
            np.testing.assert_allclose(x[label, :, 0], _expected(clips[(speech.SC35_LABELS[label], split)]),
                                       atol=1e-6)
    fit_one_step(data)


def test_sc10_at_8khz_from_the_archive(tmp_path):
    clips = _write_archive(tmp_path)
    data = speech.load_speech_commands(tmp_path / "speech_commands_v0.02", classes=10, sample_rate=8000,
                                       batch_size=32, shuffle=False)
    assert data.num_examples == {"train": 10, "validation": 10, "test": 10}
    assert data.labels == speech.SC10_LABELS and data.input_shape == (8000, 1)
    x, y = batches(data.test)[0]
    assert x.shape == (10, 8000, 1)
    np.testing.assert_array_equal(y, np.arange(10))
    np.testing.assert_allclose(x[3, :, 0], _expected(clips[("down", "test")], 8000), atol=1e-5)


# --------------------------------------------------------------------------
# Speech Commands: TFDS dir and the npz test set (12 classes)

TFDS_NAMES = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_"]


def _write_tfds(root):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "audio": tfds.features.Audio(file_format="wav", sample_rate=16000, dtype=np.int16),
        "label": tfds.features.ClassLabel(names=TFDS_NAMES),
    })
    examples = [(_clip(i, 16000 - 500 * (i % 3)), i % 12) for i in range(24)]

    def dataset():
        return tf.data.Dataset.from_generator(
            lambda: iter({"audio": a, "label": y} for a, y in examples),
            output_signature={"audio": tf.TensorSpec((None,), tf.int16), "label": tf.TensorSpec((), tf.int64)})

    store_tfds(root, "speech_commands", "0.0.3", features,
               {"train": dataset(), "validation": dataset(), "test": dataset()})
    return examples


def test_sc12_and_sc10_from_a_tfds_dir(tmp_path):
    examples = _write_tfds(tmp_path)
    data = speech.load_speech_commands(tmp_path, classes=12, batch_size=8, shuffle=False)
    assert data.info["layout"] == "tfds" and data.num_examples["test"] == 24
    got = check_split(data.test, 24, 8)
    x = np.concatenate([b[0] for b in got])
    y = np.concatenate([b[1] for b in got])
    assert x.shape == (24, 16000, 1)
    # TFDS's label order (words first) is mapped to ours (silence, unknown, then the words).
    np.testing.assert_array_equal(y, [speech.SC12_LABELS.index(TFDS_NAMES[t]) for _, t in examples])
    np.testing.assert_allclose(x[1, :, 0], _expected(examples[1][0]), atol=1e-6)
    ten = speech.load_speech_commands(tmp_path, classes=10, batch_size=8, shuffle=False)
    labels = all_labels(ten.test)
    assert len(labels) == 20 and labels.max() <= 9
    assert [speech.SC10_LABELS[i] for i in labels[:3]] == TFDS_NAMES[:3]
    fit_one_step(ten)


def _write_npz_parts(root):
    rng = np.random.default_rng(0)
    n = 60
    labels = np.arange(n) % 12
    folds = np.arange(n) % 9  # fold 9 is absent, as in the real files
    audio = rng.integers(-20000, 20000, (n, 16000)).astype(np.int16)
    for part in range(3):
        keep = np.arange(part, n, 3)
        np.savez(root / f"part{part}.npz", audio=audio[keep], labels=labels[keep],
                 label_names=np.asarray(speech.SC12_LABELS), fold=folds[keep],
                 word=np.asarray([speech.SC12_LABELS[i] for i in labels[keep]]),
                 speaker=np.asarray(["abc"] * len(keep)), filenames=np.asarray(["x.wav"] * len(keep)),
                 sample_rate=np.int64(16000))
    return audio, labels, folds


def test_sc12_npz_test_set_split_by_speaker_fold(tmp_path):
    audio, labels, folds = _write_npz_parts(tmp_path)
    data = speech.load_speech_commands(tmp_path, classes=12, batch_size=64, shuffle=False)
    assert data.info["layout"] == "npz"
    expected_sizes = {"train": int((folds <= 6).sum()), "validation": int((folds == 7).sum()),
                      "test": int((folds == 8).sum())}
    assert data.num_examples == expected_sizes
    x, y = batches(data.test)[0]
    test_index = np.flatnonzero(folds == 8)
    test_index = test_index[np.argsort([i % 3 for i in test_index], kind="stable")]  # part order
    np.testing.assert_array_equal(y, labels[test_index])
    np.testing.assert_allclose(x[:, :, 0], audio[test_index] / 32768.0, atol=1e-6)
    low = speech.load_speech_commands(tmp_path, classes=10, sample_rate=8000, test_folds=(0, 1),
                                      validation_folds=(2,))
    assert low.input_shape == (8000, 1) and low.info["test_folds"] == (0, 1)
    x, y = next(iter(low.test))
    assert tuple(x.shape[1:]) == (8000, 1) and int(y.numpy().max()) <= 9
    fit_one_step(low)


# --------------------------------------------------------------------------
# Free Spoken Digit Dataset


def _write_recordings(root):
    folder = root / "recordings"
    folder.mkdir()
    clips = {}
    for digit in range(10):
        for speaker in ("george", "theo"):
            for index in range(12):
                samples = _clip(100 * digit + index, 300 + 97 * digit + 41 * index)
                _write_wav(folder / f"{digit}_{speaker}_{index}.wav", samples, 8000)
                clips[(digit, speaker, index)] = samples
    return clips


def _write_fsdd_npz(root, clips):
    for split, indices in (("train", range(5, 12)), ("test", range(5))):
        keys = [k for k in sorted(clips) if k[2] in indices]
        audio = [clips[k] for k in keys]
        np.savez(root / f"{split}.npz", audio=np.concatenate(audio),
                 offsets=np.cumsum([0] + [len(a) for a in audio]), labels=np.asarray([k[0] for k in keys]),
                 index=np.asarray([k[2] for k in keys]), sample_rate=np.int64(8000))


@pytest.mark.parametrize("layout", ["recordings", "npz"])
def test_spoken_digits_padding_masks_and_buckets(tmp_path, layout):
    clips = _write_recordings(tmp_path)
    if layout == "npz":
        _write_fsdd_npz(tmp_path / "recordings", clips)
        (tmp_path / "npz").mkdir()
        for split in ("train", "test"):
            (tmp_path / "recordings" / f"{split}.npz").rename(tmp_path / "npz" / f"{split}.npz")
        tmp_path = tmp_path / "npz"
    data = speech.load_spoken_digits(tmp_path, batch_size=8, return_mask=True, shuffle=False)
    assert data.info["layout"] == layout
    assert data.num_examples == {"train": 40, "validation": 100, "test": 100}
    lengths = {len(c) for k, c in clips.items()}
    assert data.max_length == max(lengths)
    by_content = {c.tobytes(): k for k, c in clips.items()}
    for split in ("train", "validation", "test"):
        for (x, mask), y in check_split(data[split], data.num_examples[split], 8):
            assert x.dtype == np.float32 and x.ndim == 3 and x.shape[2] == 1
            assert mask.dtype == bool and mask.shape == x.shape[:2]
            assert x.shape[1] in (1024, 2048, 4096) or x.shape[1] == data.max_length
            for row, valid, label in zip(x[..., 0], mask, y):
                n = int(valid.sum())
                assert valid[:n].all() and not row[n:].any()  # right-padded, mask on real samples
                key = by_content[np.round(row[:n] * 32768).astype("<i2").tobytes()]
                assert key[0] == label
                assert {"train": key[2] >= 10, "validation": 5 <= key[2] < 10, "test": key[2] < 5}[split]
    fit_one_step(data)


def test_spoken_digits_resampled_to_4khz(tmp_path):
    clips = _write_recordings(tmp_path)
    data = speech.load_spoken_digits(tmp_path, sample_rate=4000, batch_size=200, shuffle=False,
                                     bucket=False)
    assert data.info["sample_rate"] == 4000
    x, y = batches(data.test)[0]
    original = clips[(0, "george", 0)]
    expected = resample_poly(original / 32768.0, 1, 2)
    assert x.shape[1] == data.max_length == max(len(resample_poly(c, 1, 2)) for c in clips.values())
    np.testing.assert_allclose(x[0, :len(expected), 0], expected, atol=1e-5)
    fit_one_step(data)


def test_resample_halves_the_length():
    tone = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    half = speech.resample(tone, 16000, 8000)
    assert half.shape == (8000,) and half.dtype == np.float32
    np.testing.assert_allclose(half[100:-100], tone[::2][100:-100], atol=1e-2)  # a 440 Hz tone survives


# --------------------------------------------------------------------------
# Errors


def test_missing_data_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        speech.load_speech_commands(tmp_path)
    message = str(error.value)
    assert "validation_list.txt" in message and "speech_commands/<version>" in message and "part*.npz" in message
    assert "speech_commands_v0.02.tar.gz" in message
    with pytest.raises(FileNotFoundError) as error:
        speech.load_spoken_digits(tmp_path)
    assert "recordings" in str(error.value) and "free-spoken-digit-dataset" in str(error.value)


def test_unsupported_combinations_say_why(tmp_path):
    _write_npz_parts(tmp_path)
    with pytest.raises(ValueError, match="classes=35 needs the extracted"):
        speech.load_speech_commands(tmp_path, classes=35)
    with pytest.raises(ValueError, match="classes"):
        speech.load_speech_commands(tmp_path, classes=20)
    with pytest.raises(ValueError, match="overlap"):
        speech.load_speech_commands(tmp_path, classes=12, validation_folds=(8,), test_folds=(8,))
    with pytest.raises(ValueError, match="sample_rate"):
        speech.load_speech_commands(tmp_path, classes=12, sample_rate=0)


def test_sc12_npz_augmentation_touches_the_training_split_only(tmp_path):
    audio, labels, folds = _write_npz_parts(tmp_path)
    options = dict(classes=12, batch_size=64, shuffle=False, time_shift=0.1, gain_db=6.0, speed_change=0.1,
                   noise_probability=1.0, noise_volume=0.1, band_limit_rate=8000)
    plain = speech.load_speech_commands(tmp_path, classes=12, batch_size=64, shuffle=False)
    data = speech.load_speech_commands(tmp_path, **options)
    assert data.info["augmentation"]["speed_change"] == 0.1
    (x, y), (x0, y0) = batches(data.train)[0], batches(plain.train)[0]
    np.testing.assert_array_equal(y, y0)
    assert x.shape == x0.shape and np.abs(x).max() <= 1.0
    assert not np.allclose(x, x0, atol=1e-3)
    second = batches(data.train)[0][0]
    assert not np.allclose(second, x, atol=1e-3)  # drawn anew each epoch
    for split in ("validation", "test"):
        np.testing.assert_array_equal(batches(data[split])[0][0], batches(plain[split])[0][0])


def test_augmentations_with_nothing_to_do_are_the_identity():
    import tensorflow as tf

    from keras_ssm.data import augment

    clip = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, 1000).astype("float32"))
    np.testing.assert_allclose(augment.random_speed(clip, 0.0).numpy(), clip.numpy(), atol=1e-7)
    np.testing.assert_array_equal(augment.random_shift(clip, 0).numpy(), clip.numpy())
    np.testing.assert_allclose(augment.random_gain(clip, 0.0).numpy(), clip.numpy(), rtol=1e-6)
    noise = tf.ones([3, 1000])
    np.testing.assert_array_equal(augment.mix_noise(clip, noise, 0.0, 0.5).numpy(), clip.numpy())
    shifted = augment.random_shift(clip, 50).numpy()
    offsets = [k for k in range(-50, 51) if np.array_equal(np.roll(clip.numpy(), k)[50:-50], shifted[50:-50])]
    assert len(offsets) == 1  # a plain shift by one offset
    faster = augment.random_speed(tf.range(1000, dtype=tf.float32), 0.2).numpy()
    steps = np.diff(faster[faster > 0][:500])
    assert 0.8 - 1e-4 <= steps.mean() <= 1.2 + 1e-4 and np.allclose(steps, steps[0], atol=1e-3)


def _archive_dir(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    _write_archive(archive)
    return archive


def test_augmentation_refusals(tmp_path):
    _write_npz_parts(tmp_path)
    with pytest.raises(ValueError, match="speed_change"):
        speech.load_speech_commands(tmp_path, classes=12, speed_change=1.5)
    with pytest.raises(ValueError, match="noise_probability"):
        speech.load_speech_commands(tmp_path, classes=12, noise_probability=2)
    with pytest.raises(ValueError, match="band_limit_rate"):
        speech.load_speech_commands(tmp_path, classes=12, band_limit_rate=16000)
    archive = _archive_dir(tmp_path)
    with pytest.raises(ValueError, match="built for the npz layout"):
        speech.load_speech_commands(archive, classes=35, gain_db=3.0)


def test_a_folder_with_the_test_fold_only(tmp_path):
    audio, labels, folds = _write_npz_parts(tmp_path)
    keep = folds == 8
    for part in range(3):
        (tmp_path / f"part{part}.npz").unlink()
    np.savez(tmp_path / "part0.npz", audio=audio[keep], labels=labels[keep], fold=folds[keep],
             label_names=np.asarray(speech.SC12_LABELS), sample_rate=np.int64(16000))
    data = speech.load_speech_commands(tmp_path, classes=12)
    assert data.train is None and data.validation is None and data.num_examples["test"] == int(keep.sum())


def test_overlapping_or_malformed_folds_are_refused(tmp_path):
    """A speaker fold on both the validation and the test side is refused, through the task loader too
    (a choice made on validation would see test speakers), as is a fold that is not a list of folds."""
    import keras_ssm.data

    _write_npz_parts(tmp_path)
    with pytest.raises(ValueError, match=r"overlap in fold\(s\) \[7\]: a speaker fold belongs to one split only"):
        speech.load_speech_commands(tmp_path, classes=12, validation_folds=[6, 7], test_folds=(7, 8))
    with pytest.raises(ValueError, match=r"overlap in fold\(s\) \[8\]"):
        keras_ssm.data.load("sc12", tmp_path, validation_folds=[8], test_folds=[8])
    for bad in (8, "78", [True], [10]):
        with pytest.raises(ValueError, match=r"`test_folds` must be a list of fold numbers in 0\.\.9"):
            speech.load_speech_commands(tmp_path, classes=12, test_folds=bad)
    data = speech.load_speech_commands(tmp_path, classes=12, validation_folds=[6, 7], test_folds=[8])
    assert data.num_examples == {"train": 42, "validation": 12, "test": 6}


# --------------------------------------------------------------------------
# Edge windows (`edge_probability`): words cut by the window's edge


def _write_word_parts(root):
    """One npz part of 1 s clips: quiet background noise, and a loud white-noise "word" in `span` (16 kHz
    samples) for every class but `_silence_` (whose clips are background of several levels only)."""
    rng = np.random.default_rng(1)
    n = 60
    labels = np.arange(n) % 12
    folds = np.arange(n) % 9
    audio = rng.normal(0, 1, (n, 16000)) * rng.uniform(30, 120, (n, 1))
    spans = np.zeros((n, 2), int)
    for k in np.flatnonzero(labels != 0):
        length = rng.integers(2000, 9000)
        start = rng.integers(0, 16000 - length)
        spans[k] = start, start + length
        audio[k, start:start + length] += rng.normal(0, 5000, length)
    audio = np.clip(audio, -32768, 32767).astype(np.int16)
    np.savez(root / "part0.npz", audio=audio, labels=labels, label_names=np.asarray(speech.SC12_LABELS),
             fold=folds, sample_rate=np.int64(16000))
    return audio, labels, folds, spans


def _share_inside(clip, rate, shift):
    """The documented rule, written out again: the share of the clip's energy above its noise floor (10 ms
    frames; floor = max(10th-percentile frame power, loudest / 1000)) left inside after `shift` samples."""
    frame = rate // 100
    length = len(clip)
    weights = np.zeros(length)
    powers = [np.mean(clip[k:k + frame].astype(np.float64) ** 2) for k in range(0, length, frame)]
    floor = max(np.percentile(powers, 10), 1e-3 * max(powers))
    for k, power in zip(range(0, length, frame), powers):
        weights[k:k + frame] = max(power - floor, 0.0)  # energy spread evenly over the frame's samples
    if weights.sum() == 0:
        weights[:] = 1.0
    return weights[max(0, -shift):min(length, length - shift)].sum() / weights.sum()


def _found_shifts(window, clip):
    """Every shift `s` with `window[t] == clip[t - s]` wherever `t - s` lies in the clip (some must; a shift by
    the whole length, which keeps nothing to compare, only when no other fits)."""
    length = len(clip)
    found = [s for s in range(1 - length, length)
             if np.allclose(window[max(0, s):length + min(0, s)], clip[max(0, -s):length - max(0, s)], atol=1e-6)]
    return found or [-length, length]


def test_sc12_edge_windows_follow_the_half_energy_rule(tmp_path):
    audio, labels, folds, spans = _write_word_parts(tmp_path)
    rate, length = 800, 800  # a short clip keeps the search over every shift quick
    plain = speech.load_speech_commands(tmp_path, classes=12, sample_rate=rate, batch_size=64, shuffle=False)
    data = speech.load_speech_commands(tmp_path, classes=12, sample_rate=rate, batch_size=64, shuffle=False,
                                       edge_probability=1.0)
    assert data.info["augmentation"]["edge_probability"] == 1.0
    (clips, y0), = batches(plain.train)
    (windows, y), = batches(data.train)
    train = np.flatnonzero(folds <= 6)
    np.testing.assert_array_equal(y0, labels[train])
    unknown = speech.SC12_LABELS.index("_unknown_")
    kept = cut = nothing_left = 0
    for window, clip, label, original, span in zip(windows[..., 0], clips[..., 0], y, y0, spans[train] / 20):
        shifts = _found_shifts(window, clip)
        nothing_left += shifts == [-length, length]
        shares = [_share_inside(clip, rate, s) for s in shifts]
        if original <= 1:  # _silence_ and _unknown_ keep their label
            assert label == original
            continue
        if min(abs(share - 0.5) for share in shares) < 1e-4:
            continue  # on the boundary, float32 and float64 may disagree
        expected = {int(original) if share >= 0.5 else unknown for share in shares}
        assert expected == {int(label)}, (shifts, shares, label, original)
        kept, cut = kept + (label == original), cut + (label == unknown)
        # The energy rule finds the word: the share of its span left inside says the same, when clear.
        s = shifts[0]
        span_share = max(0.0, min(span[1], length - s) - max(span[0], -s)) / (span[1] - span[0])
        if abs(span_share - 0.5) > 0.15:
            assert (span_share >= 0.5) == (label == original), (s, span_share, shares)
        # The gap holds background noise, far quieter than the word.
        gap = np.concatenate([window[:max(0, s)], window[length + min(0, s):]])
        if len(gap) > 20:
            assert 0 < np.sqrt(np.mean(gap ** 2)) < 0.2 * np.abs(clip).max()
    assert kept >= 5 and cut >= 5  # both outcomes occur (31 keyword clips, each about even odds)
    assert nothing_left <= 2  # every other window is its clip shifted (a window of gap alone is rare)
    moved = np.mean([not np.allclose(w, c, atol=1e-6) for w, c in zip(windows[..., 0], clips[..., 0])])
    assert moved > 0.9
    for split in ("validation", "test"):
        for (x, labels_), (x0, labels0) in zip(batches(data[split]), batches(plain[split])):
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(labels_, labels0)


def test_sc12_edge_probability_draws_per_clip_and_zero_is_off(tmp_path):
    _write_word_parts(tmp_path)
    common = dict(classes=12, sample_rate=800, batch_size=64, shuffle=False)
    plain = batches(speech.load_speech_commands(tmp_path, **common).train)
    off = speech.load_speech_commands(tmp_path, **common, edge_probability=0.0)
    assert "augmentation" not in off.info  # no augmentation at all: the plain pipeline
    for (x, y), (x0, y0) in zip(batches(off.train), plain):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)
    half = batches(speech.load_speech_commands(tmp_path, **common, edge_probability=0.5).train)
    same = [np.array_equal(w, c) for w, c in zip(half[0][0], plain[0][0])]
    assert 0.2 < np.mean(same) < 0.8  # 42 clips, each kept whole with probability 1/2


def test_edge_probability_zero_draws_what_the_other_augmentations_drew():
    """With `edge_probability=0` the augmenter draws the same random numbers, in the same order, as
    speed, shift, gain and noise mixing alone (so a seeded pipeline gives the same elements as before)."""
    import tensorflow as tf

    from keras_ssm.data import augment

    rng = np.random.default_rng(0)
    clips = rng.uniform(-0.3, 0.3, (4, 1600)).astype(np.float32)
    noise = rng.uniform(-0.3, 0.3, (2, 1600)).astype(np.float32)
    options = dict(time_shift=0.01, gain_db=6.0, speed_change=0.1, noise_probability=1.0, noise_volume=0.1,
                   band_limit_rate=None, band_limit_probability=0.5, edge_probability=0.0)
    apply = speech._augmenter(clips, noise, 16000, options, speech.SC12_LABELS)
    tf.random.set_seed(5)
    got, label = apply(tf.constant(2), tf.constant(clips[2]), tf.constant(7))
    tf.random.set_seed(5)
    expected = augment.random_shift(augment.random_speed(tf.constant(clips[2]), 0.1), 160)
    expected = augment.mix_noise(augment.random_gain(expected, 6.0), tf.constant(noise), 1.0, 0.1)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert int(label) == 7


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_edge_probability_refusals(tmp_path, bad):
    _write_npz_parts(tmp_path)
    with pytest.raises(ValueError, match="`edge_probability` must be a number in \\[0, 1\\]"):
        speech.load_speech_commands(tmp_path, classes=12, edge_probability=bad)


def test_edge_windows_need_the_unknown_class(tmp_path):
    _write_npz_parts(tmp_path)
    with pytest.raises(ValueError, match="`edge_probability` needs the `_unknown_` class.*use classes=12"):
        speech.load_speech_commands(tmp_path, classes=10, edge_probability=0.5)
    archive = _archive_dir(tmp_path)
    with pytest.raises(ValueError, match="built for the npz layout.*edge_probability"):
        speech.load_speech_commands(archive, classes=35, edge_probability=0.5)
