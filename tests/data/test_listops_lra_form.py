"""keras_ssm's ListOps against the Long Range Arena's own generator's conventions, on hand-written trees.

The strings are written as google-research/long-range-arena `lra_benchmarks/data/listops.py`
writes a tree (`to_string`: every operator node a left-nested chain of pairs, `( ( ( [MAX 2 ) 9 )
] )`), and the values follow its `to_value`: MIN, MAX, SM (sum mod 10) and MED as `int(np.median)`
(the mean of the two middle values for an even count, truncated). The tokens are those LRA's input
pipeline (`lra_benchmarks/listops/input_pipeline.py`) feeds its models: parentheses removed, `]`
renamed `X`, whitespace tokens. `benchmarks/listops_reference.py` runs the same checks on thousands
of trees with LRA's file itself; these cases need no copy of it.
"""

import numpy as np
import pytest

from keras_ssm.data import listops

# (LRA string, value by LRA's rules, the bracket form a user writes)
CASES = [
    ("( ( ( [MAX 2 ) 9 ) ] )", 9, "[MAX 2 9 ]"),
    ("( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )", 9, "[MAX 2 9 [MIN 4 7 ] 0 ]"),
    ("( ( ( ( ( [MED 3 ) 4 ) 5 ) 9 ) ] )", 4, "[MED 3 4 5 9 ]"),  # median 4.5, truncated
    ("( ( ( [MED 0 ) 9 ) ] )", 4, "[MED 0 9 ]"),  # 4.5 -> 4
    ("( ( ( ( ( [MED 1 ) 8 ) 6 ) 3 ) ] )", 4, "[MED 1 8 6 3 ]"),  # unsorted, even: (3 + 6) / 2 -> 4
    ("( ( ( ( [MED 7 ) 1 ) 3 ) ] )", 3, "[MED 7 1 3 ]"),
    ("( ( ( ( ( ( [MED 2 ) 2 ) 9 ) 9 ) 0 ) ] )", 2, "[MED 2 2 9 9 0 ]"),
    ("( ( ( ( [SM 9 ) 8 ) 7 ) ] )", 4, "[SM 9 8 7 ]"),
    ("( ( ( ( [SM ( ( ( [MED 1 ) 2 ) ] ) ) ( ( ( [MAX 5 ) 5 ) ] ) ) 6 ) ] )", 2, "[SM [MED 1 2 ] [MAX 5 5 ] 6 ]"),
    ("( ( ( ( [MIN 8 ) ( ( ( ( [SM 5 ) 5 ) 3 ) ] ) ) ( ( ( [MED 9 ) 8 ) ] ) ) ] )", 3,
     "[MIN 8 [SM 5 5 3 ] [MED 9 8 ] ]"),
]


def lra_pipeline_tokens(source):
    """The tokens LRA's input pipeline makes of a `Source` string, its `X` read back as `]`."""
    text = source.replace("]", "X").replace("(", "").replace(")", "")
    return ["]" if token == "X" else token for token in text.split()]


@pytest.mark.parametrize("source, value, brackets", CASES)
def test_lra_strings_evaluate_to_lra_values(source, value, brackets):
    assert listops.evaluate(source) == value
    assert listops.evaluate(brackets) == value


@pytest.mark.parametrize("source, value, brackets", CASES)
def test_keras_ssm_writes_trees_as_lra_does(source, value, brackets):
    tree = listops.parse(listops.tokenize(brackets))
    assert listops.serialize(tree) == source
    assert listops.parse(listops.tokenize(source)) == tree
    # LRA's `generate_tree` length: 2 per operator (itself and `]`) + 1 per digit
    assert listops.num_tokens(tree) == len(lra_pipeline_tokens(source))


@pytest.mark.parametrize("source, value, brackets", CASES)
def test_tokens_are_those_of_lra_input_pipeline(source, value, brackets):
    assert listops.tokenize(source) == lra_pipeline_tokens(source)
    ids = listops.encode(source)
    assert listops.UNK_ID not in ids.tolist()
    np.testing.assert_array_equal(ids, listops.encode(brackets))
    assert listops.decode(ids) == lra_pipeline_tokens(source)


def test_generated_trees_match_lra_conventions():
    # LRA's sum is `np.sum(...) % 10` and its median `int(np.median(...))`: check every node of a few
    # generated trees against numpy, and the strings against the pipeline's tokens.
    def check(tree):
        if isinstance(tree, int):
            return tree
        op, children = tree
        values = [check(child) for child in children]
        expected = {"[MIN": min(values), "[MAX": max(values), "[MED": int(np.median(values)),
                    "[SM": int(np.sum(values) % 10)}[op]
        assert listops.evaluate((op, values)) == expected, (op, values)
        return expected

    for source, label in listops.generate(5, seed=3, min_length=100, max_length=400):
        assert check(listops.parse(listops.tokenize(source))) == label
        assert listops.tokenize(source) == lra_pipeline_tokens(source)
