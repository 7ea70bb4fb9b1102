"""LRA "Retrieval": do two ACL Anthology Network (AAN) papers cite each other? (2 classes).

The LRA release stores the pairs as tab-separated files without a header,
`new_aan_pairs.{train,eval,test}.tsv` (folder `lra_release/tsv_data/`), with
five columns: `label` (0 / 1, written as a float), `id1`, `id2`, `text1`,
`text2`. Each document is encoded byte by byte like the Text task (id =
byte + 1, 0 = padding, `vocab_size` 257) and truncated to its first
`max_length` bytes (4,000 in LRA and S4).

The datasets yield `((doc1, doc2), labels)`, two padded int32 arrays
`(batch, length)` (padded to the same bucket size, that of the longer
document), for a two-tower model.
"""

import numpy as np

from keras_ssm.data.base import TaskData, check_data_dir, check_positive_int, split_files

LABELS = ("unrelated", "related")
VOCAB_SIZE = 257

EXPECTED_LAYOUT = """\
  DATA_DIR/new_aan_pairs.train.tsv, new_aan_pairs.eval.tsv, new_aan_pairs.test.tsv
  (tab-separated, no header, columns: label, id1, id2, text1, text2;
   the LRA release's `tsv_data/` folder)"""
WHERE = "the LRA release, https://github.com/google-research/long-range-arena (lra_release.gz, tsv_data/)."


def read_pairs(path):
    """`(texts1, texts2, labels)` of one AAN TSV file (texts as bytes, labels int32).

    Fields are split on tabs only, with no quoting (as LRA reads them).
    """
    texts1, texts2, labels = [], [], []
    with open(path, encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            row = line.split("\t")
            if len(row) != 5:
                raise ValueError(
                    f"{path}:{number}: expected 5 tab-separated columns "
                    f"(label, id1, id2, text1, text2), got {len(row)}."
                )
            try:
                labels.append(int(float(row[0])))
            except ValueError:
                raise ValueError(f"{path}:{number}: label {row[0]!r} is not a number.") from None
            texts1.append(row[3].encode("utf-8"))
            texts2.append(row[4].encode("utf-8"))
    return texts1, texts2, np.asarray(labels, np.int32)


def load_retrieval(
    data_dir,
    *,
    batch_size=32,
    max_length=4000,
    prefix="new_aan_pairs",
    bucket=True,
    shuffle=True,
    seed=0,
    drop_remainder=False,
):
    """Loads LRA Retrieval (AAN document pairs) from its TSV files.

    Args:
        data_dir: folder with `<prefix>.{train,eval,test}.tsv`.
        batch_size: pairs per batch.
        max_length: each document is truncated to its first `max_length`
            bytes (LRA / S4: 4,000).
        prefix: file prefix (`"new_aan_pairs"` in the LRA release).
        bucket, shuffle, seed, drop_remainder: see `batching.make_dataset`
            (bucketing uses the longer document of each pair).

    Returns:
        `TaskData` whose datasets yield `((doc1, doc2), labels)`: int32
        `(batch, length)` byte ids each (byte + 1, 0 = padding), int32
        labels (1 = the papers are linked by a citation).

    >>> data = load_retrieval("path/to/lra_release/tsv_data")  # doctest: +SKIP
    >>> (doc1, doc2), y = next(iter(data.train))                # doctest: +SKIP
    """
    import tensorflow as tf

    from keras_ssm.data.batching import max_pair_length, sequence_datasets

    data_dir = check_data_dir("retrieval", data_dir, EXPECTED_LAYOUT, WHERE)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_length", max_length)
    files = split_files(
        "retrieval", data_dir, {s: f"{prefix}.{s}.tsv" for s in ("train", "eval", "test")},
        EXPECTED_LAYOUT, WHERE,
    )

    def truncated():  # one split's full texts at a time
        for split, name in (("train", "train"), ("validation", "eval"), ("test", "test")):
            texts1, texts2, labels = read_pairs(files[name])
            docs = tuple([np.frombuffer(t[:max_length], np.uint8) for t in ts] for ts in (texts1, texts2))
            yield split, (docs, labels)

    def documents(rows, i):
        rows1, rows2 = rows
        return tf.cast(rows1[i], tf.int32) + 1, tf.cast(rows2[i], tf.int32) + 1

    datasets, sizes = sequence_datasets(
        truncated(), documents, dtype=np.uint8, shuffle=shuffle, batch_size=batch_size,
        max_length=max_length, seed=seed, bucket=bucket, drop_remainder=drop_remainder,
        length_fn=max_pair_length,
    )
    return TaskData(
        task="retrieval",
        **datasets,
        num_classes=2,
        labels=LABELS,
        input_shape=((None,), (None,)),
        input_dtype="int32",
        vocab_size=VOCAB_SIZE,
        max_length=max_length,
        num_examples=sizes,
        info={"data_dir": data_dir, "layout": "lra_aan_tsv", "vocab": "byte + 1 (0 = padding)",
              "truncation": f"first {max_length} bytes of each document", "files": files},
    )
