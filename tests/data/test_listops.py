import collections
import os

import numpy as np
import pytest

from keras_ssm.data import listops
from tests.data.helpers import all_labels, check_split, check_tokens, fit_one_step


@pytest.fixture(scope="module")
def trees():
    # LRA defaults (length window 500..2000, depth 10, 2..10 arguments).
    return listops.generate(40, seed=0)


def test_generated_trees_evaluate_to_their_labels(trees):
    assert len(trees) == 40
    for source, label in trees:
        assert listops.evaluate(source) == label
        assert 0 <= label <= 9


def test_default_lengths_are_within_the_lra_window(trees):
    lengths = [len(listops.tokenize(source)) for source, _ in trees]
    assert all(500 < n < 2000 for n in lengths)
    tree_lengths = [listops.num_tokens(listops.parse(listops.tokenize(s))) for s, _ in trees]
    assert tree_lengths == lengths


def test_operators_are_balanced(trees):
    counts = collections.Counter(t for s, _ in trees for t in listops.tokenize(s) if t.startswith("["))
    assert set(counts) == set(listops.OPERATORS)
    total = sum(counts.values())
    assert total > 4000
    for op in listops.OPERATORS:
        assert 0.22 < counts[op] / total < 0.28, counts


def test_trees_respect_depth_and_argument_counts(trees):
    def walk(tree, depth):
        if isinstance(tree, int):
            return depth
        op, children = tree
        assert 2 <= len(children) <= 10
        return max(walk(c, depth + 1) for c in children)

    for source, _ in trees:
        assert walk(listops.parse(listops.tokenize(source)), 1) <= 10


def test_string_format_round_trips_through_the_tokenizer(trees):
    for source, _ in trees[:10]:
        ids = listops.encode(source)
        assert ids.dtype == np.int32 and ids.min() > 0  # 0 is padding only
        tokens = listops.decode(ids)
        assert tokens == listops.tokenize(source)
        assert listops.serialize(listops.parse(tokens)) == source
        np.testing.assert_array_equal(listops.tokens._encode_fast(source), ids)


def test_serialization_matches_the_lra_format():
    assert listops.serialize(("[MAX", [2, 9])) == "( ( ( [MAX 2 ) 9 ) ] )"
    assert listops.serialize(("[SM", [1, ("[MIN", [4, 7])])) == "( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )"


@pytest.mark.parametrize("source, value", [
    ("[MIN 3 8 1 ]", 1), ("[MAX 3 8 1 ]", 8), ("[MED 3 4 ]", 3), ("[MED 1 9 5 ]", 5),
    ("[MED 2 4 6 9 ]", 5), ("[SM 7 8 9 ]", 4), ("[SM [MAX 2 9 ] [MIN 4 7 ] ]", 3),
])
def test_operator_semantics(source, value):
    assert listops.evaluate(source) == value


def test_generation_is_deterministic_for_a_seed():
    a = listops.generate(5, seed=3, min_length=20, max_length=200)
    assert a == listops.generate(5, seed=3, min_length=20, max_length=200)
    assert a != listops.generate(5, seed=4, min_length=20, max_length=200)
    # Chunks are seeded on their own: the result does not depend on the chunking of the work.
    more = listops.generate(8, seed=3, min_length=20, max_length=200)
    assert more[:5] == a


def test_cli_writes_the_lra_layout(tmp_path):
    code = listops.main(["--out", str(tmp_path), "--n-train", "6", "--n-val", "2", "--n-test", "2",
                         "--min-length", "10", "--max-length", "80", "--workers", "1", "--quiet"])
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["basic_test.tsv", "basic_train.tsv", "basic_val.tsv"]
    lines = (tmp_path / "basic_train.tsv").read_text().splitlines()
    assert lines[0] == "Source\tTarget" and len(lines) == 7
    sources = set()
    for name in ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv"):
        for line in (tmp_path / name).read_text().splitlines()[1:]:
            source, target = line.split("\t")
            assert listops.evaluate(source) == int(target)
            assert 10 < len(listops.tokenize(source)) < 80
            sources.add(source)
    assert len(sources) == 10  # unique across splits


def _write_fixture(folder):
    """A hand-written LRA TSV fixture with known trees."""
    rows = {
        "train": [("( ( ( [MAX 2 ) 9 ) ] )", 9), ("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )", 5),
                  ("( ( ( [MED 3 ) 4 ) ] )", 3), ("( ( ( ( [MIN 8 ) 6 ) 7 ) ] )", 6), ("7", 7)],
        "val": [("( ( ( [MAX 0 ) 1 ) ] )", 1)],
        "test": [("( ( ( [SM 9 ) 9 ) ] )", 8), ("( ( ( [MIN 5 ) 5 ) ] )", 5)],
    }
    for split, items in rows.items():
        with open(folder / f"basic_{split}.tsv", "w") as f:
            f.write("Source\tTarget\n")
            for source, label in items:
                f.write(f"{source}\t{label}\n")
    return rows


def test_loader_reads_the_lra_tsv_layout(tmp_path):
    rows = _write_fixture(tmp_path)
    data = listops.load_listops(tmp_path, batch_size=2, shuffle=False, bucket=False, max_length=8)
    assert data.num_examples == {"train": 5, "validation": 1, "test": 2}
    assert (data.num_classes, data.vocab_size, data.max_length) == (10, 18, 8)
    assert data.input_shape == (None,) and data.input_dtype == "int32"
    got = check_split(data.train, 5, 2)
    x, y = got[0]
    check_tokens(x, 18, 8)
    ids = listops.TOKEN_IDS
    np.testing.assert_array_equal(x[0], [ids["[MAX"], ids["2"], ids["9"], ids["]"], 0, 0, 0, 0])
    assert y.dtype == np.int32
    np.testing.assert_array_equal(all_labels(data.train), [label for _, label in rows["train"]])
    # Keras' mask from padding id 0 is True exactly on the real tokens.
    assert (x != 0).sum(axis=1).tolist() == [4, 7]
    np.testing.assert_array_equal(all_labels(data.test), [8, 5])


def test_loader_on_generated_data_feeds_fit(tmp_path):
    listops.write_dataset(tmp_path, 16, 4, 4, seed=1, min_length=20, max_length=120)
    data = listops.load_listops(tmp_path, batch_size=4, append_eos=True)
    for split in ("train", "validation", "test"):
        for x, y in check_split(data[split], data.num_examples[split], 4):
            check_tokens(x, 18, 2048)
            assert x.shape[1] == 64 or x.shape[1] == 128  # buckets, not 2048
            assert ((x == listops.EOS_ID).sum(axis=1) == 1).all()
    fit_one_step(data)


def test_a_test_only_folder(tmp_path):
    _write_fixture(tmp_path)
    (tmp_path / "basic_train.tsv").unlink()
    (tmp_path / "basic_val.tsv").unlink()
    data = listops.load_listops(tmp_path, batch_size=4)
    assert data.train is None and data.validation is None
    assert data.num_examples == {"train": 0, "validation": 0, "test": 2}
    np.testing.assert_array_equal(all_labels(data.test), [8, 5])


def test_a_folder_with_one_training_file_names_the_other(tmp_path):
    _write_fixture(tmp_path)
    (tmp_path / "basic_val.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="basic_val.tsv"):
        listops.load_listops(tmp_path)


def test_truncation_to_max_length(tmp_path):
    _write_fixture(tmp_path)
    data = listops.load_listops(tmp_path, batch_size=8, max_length=3, shuffle=False)
    x, _ = next(iter(data.train))
    assert x.shape[1] == 3


def test_missing_folder_says_what_is_expected(tmp_path):
    for folder in (tmp_path / "nowhere", tmp_path):  # missing, and present but empty
        with pytest.raises(FileNotFoundError) as error:
            listops.load_listops(folder)
        message = str(error.value)
        assert "basic_train.tsv" in message and "Source<TAB>Target" in message  # the layout
        assert "listops-1000" in message and "python -m keras_ssm.data.listops" in message  # the source


def test_bad_arguments():
    with pytest.raises(ValueError, match="n"):
        listops.generate(0)
    with pytest.raises(ValueError, match="min_length"):
        listops.generate(3, min_length=50, max_length=40)
    with pytest.raises(ValueError, match="data_dir"):
        listops.load_listops(None)


def test_bad_header_is_reported(tmp_path):
    _write_fixture(tmp_path)
    (tmp_path / "basic_val.tsv").write_text("a\tb\n")
    with pytest.raises(ValueError, match="Source<TAB>Target"):
        listops.load_listops(tmp_path)


def test_truncation_keeps_the_appended_eos(tmp_path):
    # As S4: truncate to max_length - 1 tokens, then append <eos>, so every
    # sequence (truncated or not) ends with it and fits max_length.
    _write_fixture(tmp_path)
    data = listops.load_listops(tmp_path, batch_size=8, max_length=3, append_eos=True, shuffle=False, bucket=False)
    x, _ = next(iter(data.train))
    x = x.numpy()
    assert x.shape[1] == 3
    ids, eos = listops.TOKEN_IDS, listops.EOS_ID
    np.testing.assert_array_equal(x[0], [ids["[MAX"], ids["2"], eos])  # truncated: 4 tokens -> 2 + eos
    np.testing.assert_array_equal(x[4], [ids["7"], eos, 0])  # short: kept whole, eos, padding
    lengths = (x != 0).sum(axis=1)
    assert (x[np.arange(len(x)), lengths - 1] == eos).all() and ((x == eos).sum(axis=1) == 1).all()
