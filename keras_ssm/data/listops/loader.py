"""ListOps (LRA): the loader.

On disk (the LRA release, `listops-1000/`) each split is a TSV file
`basic_{train,val,test}.tsv` with a header `Source<TAB>Target`. `Source`
writes every operator node as a left-nested chain of pairs, e.g.
`[MAX 2 9 ]` -> `( ( ( [MAX 2 ) 9 ) ] )`; parentheses carry no information.
"""

import os

import numpy as np

from keras_ssm.data.base import TaskData, check_data_dir, check_positive_int, split_files
from keras_ssm.data.listops.tokens import EOS_ID, LABELS, VOCAB, VOCAB_SIZE, _encode_fast, encode

EXPECTED_LAYOUT = """\
  DATA_DIR/basic_train.tsv, basic_val.tsv, basic_test.tsv
  (tab-separated, header `Source<TAB>Target`; the LRA release's `listops-1000/` folder;
  basic_test.tsv alone: the test split only, as the copy bundled for the zoo's evaluation)"""
WHERE = (
    "the LRA release (lra_release.gz, folder listops-1000), or generate it here: "
    "`python -m keras_ssm.data.listops --out DATA_DIR`."
)


def read_tsv(path, append_eos=False):
    """Token ids and labels of one LRA ListOps TSV file.

    `append_eos` appends `<eos>` to the whole sequence; `load_listops`
    instead truncates first, then appends it (as S4).

    Returns:
        `(sequences, labels)`: a list of uint8 id arrays (ids as in `VOCAB`)
        and an int32 array of labels.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "basic_test.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("Source\\tTarget\\n( ( ( [MAX 2 ) 9 ) ] )\\t9\\n")
    >>> sequences, labels = read_tsv(path, append_eos=True)
    >>> sequences[0].dtype.name, sequences[0].tolist(), labels.tolist()
    ('uint8', [14, 5, 12, 17, 2], [9])
    """
    sequences, labels = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if header[:2] != ["Source", "Target"]:
            raise ValueError(f"{path}: expected the header `Source<TAB>Target`, got {header!r}.")
        for number, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            source, _, target = line.rpartition("\t")
            ids = _encode_fast(source)
            if ids is None:  # something unusual: the general (slower) path
                ids = encode(source).astype(np.uint8)
            if append_eos:
                ids = np.append(ids, np.uint8(EOS_ID))
            try:
                labels.append(int(target))
            except ValueError:
                raise ValueError(f"{path}:{number}: the Target {target!r} is not an integer.") from None
            sequences.append(ids)
    return sequences, np.asarray(labels, np.int32)


def load_listops(
    data_dir,
    *,
    batch_size=32,
    max_length=2048,
    task="basic",
    append_eos=False,
    bucket=True,
    shuffle=True,
    seed=0,
    drop_remainder=False,
):
    """Loads LRA ListOps from its TSV files (see the module docstring for the vocabulary).

    Args:
        data_dir: folder with `<task>_train.tsv`, `<task>_val.tsv`,
            `<task>_test.tsv` (the LRA `listops-1000/` folder, or the
            generator's output); `<task>_test.tsv` alone is a test-only
            folder (the train and validation datasets are None).
        batch_size: examples per batch.
        max_length: longer sequences are truncated (keeping the start);
            LRA uses 2,000 (all trees are shorter), S4 2,048. It counts the
            `<eos>` of `append_eos`.
        task: file prefix (`"basic"` in the LRA release).
        append_eos: append `<eos>` (id 2) to every sequence, as S4 does:
            a sequence is truncated to `max_length − 1` tokens first, so
            every one ends with `<eos>`.
        bucket: length bucketing (see `batching.make_dataset`); False pads
            every batch to `max_length`.
        shuffle, seed: deterministic reshuffling of the training split.
        drop_remainder: drop incomplete batches.

    Returns:
        `TaskData` whose datasets yield `(tokens, labels)`: int32
        `(batch, length)` with 0 = padding, int32 `(batch,)` labels 0-9.
        `vocab_size` 18, `num_classes` 10.

    >>> import tempfile
    >>> from keras_ssm.data.listops.generator import write_dataset
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = write_dataset(folder.name, 4, 2, 2, min_length=10, max_length=60)
    >>> data = load_listops(folder.name, batch_size=2)
    >>> x, y = next(iter(data.train))
    >>> x.dtype.name, y.dtype.name, x.shape[0], data.vocab_size, data.num_classes
    ('int32', 'int32', 2, 18, 10)
    >>> folder.cleanup()
    """
    import tensorflow as tf

    from keras_ssm.data.batching import sequence_datasets

    data_dir = check_data_dir("listops", data_dir, EXPECTED_LAYOUT, WHERE)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_length", max_length)
    names = {s: f"{task}_{s}.tsv" for s in ("train", "val", "test")}
    test_only = not any(os.path.isfile(os.path.join(data_dir, names[s])) for s in ("train", "val"))
    if test_only:
        names = {"test": names["test"]}
    files = split_files("listops", data_dir, names, EXPECTED_LAYOUT, WHERE)

    def truncated():  # one split's full sequences at a time
        for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
            if name not in files:
                yield split, None
                continue
            sequences, labels = read_tsv(files[name])
            if append_eos:  # as S4: truncate first, so <eos> survives truncation
                sequences = [np.append(s[: max_length - 1], np.uint8(EOS_ID)) for s in sequences]
            else:
                sequences = [s[:max_length] for s in sequences]
            yield split, (sequences, labels)

    datasets, sizes = sequence_datasets(
        truncated(),
        lambda rows, i: tf.cast(rows[i], tf.int32),
        dtype=np.uint8,
        shuffle=shuffle,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        bucket=bucket,
        drop_remainder=drop_remainder,
    )
    return TaskData(
        task="listops",
        **datasets,
        num_classes=10,
        labels=LABELS,
        input_shape=(None,),
        input_dtype="int32",
        vocab_size=VOCAB_SIZE,
        max_length=max_length,
        num_examples=sizes,
        info={"data_dir": data_dir, "layout": "lra_tsv", "vocab": VOCAB, "files": files},
    )
