"""`benchmarks/listops_reference.py` without LRA's file: a stand-in module with the names it uses
(`generate_tree`, `to_string`, `to_value`, `OPERATORS`, `VALUE_P`, `END`, `FLAGS`), its trees as
nested pairs, written here from the format's description (not LRA's code)."""

import random
import textwrap

import numpy as np
import pytest

from benchmarks import listops_reference as ref
from keras_ssm.data import listops

STAND_IN = textwrap.dedent('''
    import math
    import random
    import types

    import numpy as np

    from keras_ssm.data import listops


    class _Flags(types.SimpleNamespace):
        def is_parsed(self):
            return True


    FLAGS = _Flags(max_depth=4, max_args=3, min_length=5, max_length=40)
    OPERATORS = ["[MIN", "[MAX", "[MED", "[SM"]
    VALUE_P = 0.25
    END = "]"
    MED_ROUNDS_UP = False  # a deliberately wrong median, for the checks to catch


    def generate_tree(depth, max_depth, max_args):
        if depth >= max_depth or random.random() > 0.6:
            return random.randrange(10), 1
        children = [generate_tree(depth + 1, max_depth, max_args) for _ in range(random.randint(2, max_args))]
        pairs = (random.choice(OPERATORS), children[0][0])
        for child, _ in children[1:]:
            pairs = (pairs, child)
        return (pairs, END), 2 + sum(length for _, length in children)


    def _unpair(t):
        if isinstance(t, int):
            return t
        chain, args = t[0], []
        while isinstance(chain, tuple):
            chain, arg = chain
            args.append(_unpair(arg))
        return chain, args[::-1]


    def _value(tree):
        if isinstance(tree, int):
            return tree
        op, args = tree[0], [_value(a) for a in tree[1]]
        if op == "[MED":
            return math.ceil(np.median(args)) if MED_ROUNDS_UP else int(np.median(args))
        return {"[MIN": min, "[MAX": max, "[SM": lambda v: sum(v) % 10}[op](args)


    def to_value(t):
        return _value(_unpair(t))


    def to_string(t):
        return listops.serialize(_unpair(t))
''')


@pytest.fixture
def stand_in(tmp_path):
    path = tmp_path / "listops.py"
    path.write_text(STAND_IN)
    module, settings = ref.load_lra(path)
    yield module, settings
    ref._LOADED.pop(path.resolve(), None)


def test_settings_come_from_the_files_flags(stand_in, tmp_path):
    module, settings = stand_in
    assert settings == {"max_depth": 4, "max_args": 3, "min_length": 5, "max_length": 40, "value_p": 0.25,
                        "operators": ["[MIN", "[MAX", "[MED", "[SM"], "end": "]"}
    assert ref.load_lra(tmp_path / "listops.py")[0] is module  # imported once per process


def test_a_file_that_is_not_lra_listops_is_refused(tmp_path):
    path = tmp_path / "other.py"
    path.write_text("x = 1\n")
    with pytest.raises(SystemExit, match="generate_tree"):
        ref.load_lra(path)
    with pytest.raises(SystemExit, match="no file"):
        ref.load_lra(tmp_path / "missing.py")


def test_lra_sample_keeps_unique_trees_in_the_window_and_is_seeded(stand_in):
    module, settings = stand_in
    state = random.getstate()
    rows, attempts = ref.lra_sample(module, settings, 30, seed=5)
    assert random.getstate() == state
    assert attempts >= 30 and len({row[1] for row in rows}) == 30
    assert all(5 < length < 40 for _, _, _, length in rows)
    assert [row[1] for row in ref.lra_sample(module, settings, 30, seed=5)[0]] == [row[1] for row in rows]


def test_semantics_checks_pass_on_agreeing_conventions(stand_in):
    module, settings = stand_in
    rows, _ = ref.lra_sample(module, settings, 40, seed=1)
    lra = ref.check_lra_trees(module, rows)
    assert (lra["value_mismatches"], lra["round_trip_mismatches"], lra["length_mismatches"]) == (0, 0, 0)
    ours = ref.check_keras_ssm_trees(module, ref.keras_ssm_sample(settings, 40, seed=1), "]")
    assert (ours["value_mismatches"], ours["string_mismatches"], ours["node_value_mismatches"]) == (0, 0, 0)
    assert set(ours["operator_nodes"]) == {"[MIN", "[MAX", "[MED", "[SM"}


def test_semantics_checks_catch_a_different_median(stand_in):
    module, settings = stand_in
    module.MED_ROUNDS_UP = True
    ours = ref.check_keras_ssm_trees(module, ref.keras_ssm_sample(settings, 60, seed=2), "]")
    assert ours["node_value_mismatches"] > 0
    assert all(e["op"] == "[MED" for e in ours["examples"] if e["check"] == "node_value")


def test_keras_ssm_seed_zero_is_the_presets_training_data():
    with pytest.raises(SystemExit, match="trained on"):
        ref.keras_ssm_sample({"min_length": 5, "max_length": 40, "max_depth": 4, "max_args": 3, "value_p": 0.25}, 3, 0)


def test_lra_pairs_round_trip_through_the_stand_in(stand_in):
    module, _ = stand_in
    tree = ("[SM", [("[MED", [1, 2]), ("[MAX", [5, 5]), 6])
    pairs = ref.to_lra_pairs(tree)
    assert module.to_string(pairs) == listops.serialize(tree)
    assert module.to_value(pairs) == listops.evaluate(tree) == 2


def test_lra_pipeline_tokens_match():
    sources = [source for source, _ in listops.generate(20, seed=4, min_length=20, max_length=80)]
    result = ref.check_lra_pipeline(sources)
    assert result["token_mismatches"] == 0 and result["id_map_one_to_one"]
    assert result["keras_ssm_unknown_tokens"] == 0
    assert set(result["lra_vocabulary"]) <= set(listops.VOCAB) | {"X"}


def test_distribution_comparison_of_one_sample_with_itself():
    sources, labels = zip(*listops.generate(50, seed=6, min_length=20, max_length=200))
    stats = [ref.tree_statistics(s) for s in sources]
    tests = ref.compare(stats, labels, stats, labels)
    assert all(t["p"] == pytest.approx(1.0) for t in tests.values())
    summary = ref.summarize(stats, labels)
    assert summary["trees"] == 50 and sum(summary["answers"].values()) == 50
    assert summary["arguments_mean"] == pytest.approx(np.mean([a for s in stats for a in s["arguments"]]))


def test_pooled_permutation_test_keeps_a_trees_nodes_together():
    rng = np.random.default_rng(0)
    # every tree's 100 nodes share one category: the pooled chi-square is large by chance alone,
    # but exchanging whole trees shows it is nothing unusual
    a = np.array([[100, 0] if c else [0, 100] for c in rng.random(60) < 0.5])
    b = np.array([[100, 0] if c else [0, 100] for c in rng.random(60) < 0.5])
    chi2, dof, p = ref.pooled_permutation_test(a, b, permutations=400)
    from scipy.stats import chi2_contingency

    assert dof == 1 and chi2_contingency(np.stack([a.sum(0), b.sum(0)]))[1] < 0.05
    assert p > 0.05
    # a real difference of every tree's mix is found
    chi2, dof, p = ref.pooled_permutation_test(np.tile([60, 40], (30, 1)), np.tile([40, 60], (30, 1)), permutations=200)
    assert p == pytest.approx(1 / 201)
