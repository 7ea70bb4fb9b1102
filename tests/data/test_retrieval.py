import numpy as np
import pytest

from keras_ssm.data import retrieval
from tests.data.helpers import batches, check_split, check_tokens, fit_one_step

PAIRS = {
    "train": [(1, "We cite attention.", "Attention is all you need."),
              (0, "Parsing with CKY.", "Speech recognition with HMMs." * 20),
              (1, "Neural MT.", "Sequence to sequence learning."),
              (0, "Topic models.", "Dependency parsing.")],
    "eval": [(1, "a", "b"), (0, "c", "d")],
    "test": [(0, "e", "f f"), (1, "g g g", "h")],
}


def _write_fixture(folder):
    # The LRA layout: no header; label (as a float), id1, id2, text1, text2.
    for split, rows in PAIRS.items():
        with open(folder / f"new_aan_pairs.{split}.tsv", "w") as f:
            for i, (label, a, b) in enumerate(rows):
                f.write(f"{float(label)}\tacl-{i}a\tacl-{i}b\t{a}\t{b}\n")


def test_loader_reads_the_lra_tsv_layout(tmp_path):
    _write_fixture(tmp_path)
    data = retrieval.load_retrieval(tmp_path, batch_size=2, max_length=32, shuffle=False, bucket=False)
    assert data.num_examples == {"train": 4, "validation": 2, "test": 2}
    assert data.input_shape == ((None,), (None,)) and data.vocab_size == 257 and data.num_classes == 2
    got = check_split(data.train, 4, 2)
    seen = []
    for (doc1, doc2), y in got:
        check_tokens(doc1, 257, 32)
        check_tokens(doc2, 257, 32)
        assert doc1.shape == doc2.shape == (len(y), 32)
        for a, b, label in zip(doc1, doc2, y):
            seen.append((int(label), bytes((a[a > 0] - 1).astype(np.uint8).tolist()),
                         bytes((b[b > 0] - 1).astype(np.uint8).tolist())))
    expected = [(label, a.encode()[:32], b.encode()[:32]) for label, a, b in PAIRS["train"]]
    assert seen == expected


def test_pairs_are_bucketed_by_the_longer_document(tmp_path):
    _write_fixture(tmp_path)
    data = retrieval.load_retrieval(tmp_path, batch_size=4, shuffle=False)
    widths = sorted(doc1.shape[1] for (doc1, _), _ in batches(data.train))
    assert widths == [64, 1024]  # the 580-byte document's pair alone in a 1,024 bucket
    fit_one_step(data)


def test_missing_data_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        retrieval.load_retrieval(tmp_path)
    message = str(error.value)
    assert "new_aan_pairs.train.tsv" in message and "label, id1, id2, text1, text2" in message
    assert "long-range-arena" in message


def test_malformed_rows_are_reported(tmp_path):
    _write_fixture(tmp_path)
    (tmp_path / "new_aan_pairs.eval.tsv").write_text("1.0\tonly\tthree\n")
    with pytest.raises(ValueError, match="5 tab-separated columns"):
        retrieval.load_retrieval(tmp_path)
