"""Evaluating a preset on its task's data, as its metadata says."""

from keras_ssm.intervals import wilson_interval
from keras_ssm.zoo.loading import describe, load


def evaluate_preset(name_or_path, data_dir, sample_rate=None, split="test", batch_size=32, verbose=1):
    """Evaluates a preset on a split of its task's data (Keras progress bar).

    The data is read by the `keras_ssm.data` loader the preset's metadata
    names (`data.task`, with its `data.options`), at `sample_rate` for audio
    (resampled from the recordings; default the preset's own rate), and the
    model is loaded re-targeted to that rate (`zoo.load(..., sample_rate)`).

    Args:
        name_or_path: a preset name, folder or URL.
        data_dir: the folder with the task's data (e.g. the bundled
            `examples/data/fsdd_test`).
        sample_rate: audio rate in Hz, or None for the preset's own.
        split: `"test"` (default), `"validation"` or `"train"`.
        batch_size: examples per batch (masked, so it does not change results).
        verbose: Keras verbosity.

    Returns:
        `{"preset", "split", "examples", "correct", "accuracy", "interval",
        "loss", "sample_rate", "missing"}`: `interval` the Wilson 95 %
        interval of the accuracy (`keras_ssm.intervals`), `missing` the
        examples the data's listing names but the folder lacks (a loader
        that says so, e.g. Pathfinder's; 0 otherwise).

    >>> evaluate_preset("fsdd_s4d", "examples/data/fsdd_test", verbose=0)["examples"]  # doctest: +SKIP
    300
    """
    from keras_ssm import data as data_lib

    metadata = describe(name_or_path)
    spec = metadata.get("data", {})
    if "task" not in spec:
        raise ValueError(
            f"The metadata of {name_or_path!r} names no `data.task`: it does not say which "
            "keras_ssm.data loader reads its data, so it cannot be evaluated here."
        )
    if split not in ("train", "validation", "test"):
        raise ValueError(f"`split` must be one of ['train', 'validation', 'test'], got {split!r}.")
    options = dict(spec.get("options", {}))
    trained_rate = metadata["input"].get("sample_rate")
    if sample_rate is not None and trained_rate is None:
        raise ValueError(f"`sample_rate`: the preset {name_or_path!r} does not take audio.")
    if trained_rate is not None:
        options["sample_rate"] = sample_rate or trained_rate
    data = data_lib.load(spec["task"], data_dir, batch_size=batch_size, **options)
    dataset = data[split]
    if dataset is None:
        raise ValueError(f"`data_dir` {data_dir!r} holds no {split} split of {spec['task']!r}.")
    model = load(name_or_path, sample_rate=sample_rate, compile=True)
    loss, accuracy = model.evaluate(dataset, verbose=verbose)
    examples = data.num_examples[split]
    correct = int(round(accuracy * examples))
    return {
        "preset": str(name_or_path),
        "split": split,
        "examples": examples,
        "correct": correct,
        "accuracy": float(accuracy),
        "interval": wilson_interval(correct, examples),
        "loss": float(loss),
        "sample_rate": options.get("sample_rate"),
        "missing": int((data.info or {}).get("missing_images", 0)),
    }
