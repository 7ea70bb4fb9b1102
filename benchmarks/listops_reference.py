"""The ListOps preset on trees from LRA's own generator, against keras_ssm's generator.

```
python -m benchmarks listops_reference --lra-listops PATH/TO/lra_benchmarks/data/listops.py
    [--samples 2000] [--stats-samples 10000] [--seed 1] [--batch-size 32] [--out benchmarks/results]
```

`lra_listops_s5` was trained and tested on trees from `keras_ssm.data.listops` (seed 0); the
Long Range Arena's data came from google-research/long-range-arena
`lra_benchmarks/data/listops.py`. This benchmark imports that file from the path given (it is
not part of keras_ssm: fetch a checkout of the LRA repository), parses its absl flags with no
arguments (LRA's defaults: max depth 10, up to 10 arguments, 500 < length < 2,000; its
`VALUE_P` 0.25 and `OPERATORS`), and:

1. draws `--stats-samples` unique accepted trees with LRA's `generate_tree` (Python's `random`
   seeded with `--seed`, trees kept as LRA's `main` keeps them: `min_length < length <
   max_length`, duplicates dropped) and as many with `keras_ssm.data.listops.generate` at the
   same settings (seed `--seed`; seed 0 is refused: it draws the preset's own training trees);
   the first `--samples` of each are evaluated;
2. checks the semantics on every tree: LRA's strings (`to_string`) and values (`to_value`)
   against keras_ssm's parser, serializer and evaluator, and keras_ssm's trees rebuilt as
   LRA's nested pairs against LRA's `to_string` / `to_value`, node by node (every operator node
   of every tree, so every operator with every argument count that occurs);
3. checks the token sequence LRA's input pipeline (`lra_benchmarks/listops/input_pipeline.py`:
   parentheses removed, `]` renamed `X`, whitespace tokens, a `TokenTextEncoder` vocabulary
   from the first 1,002 strings, truncation at 2,000) gives the same tokens as keras_ssm's
   `tokenize` / `encode`, so that LRA's ids and the preset's differ only by a renaming;
4. writes each evaluated sample as a test-only LRA TSV folder (the LRA trees with LRA's own
   `write_to_file`) and scores the preset on it exactly as `python -m keras_ssm zoo evaluate
   lra_listops_s5 --data DIR` does (`keras_ssm.zoo.evaluation.evaluate_preset`), then again
   example by example (the same loader and model, `predict_on_batch`) for the breakdowns;
5. compares the two samples: length, depth, digit depths, operators per tree, arguments per
   operator, operator mix, root operator and answer distribution (two-sample Kolmogorov-Smirnov
   for the per-tree numbers, chi-square for one category per tree, and for categories pooled
   over a tree's nodes a chi-square whose p comes from permuting whole trees, since the nodes
   of one tree are not independent), with a Bonferroni threshold over the tests.

Accuracies carry Wilson 95 % intervals (`keras_ssm.intervals`), their difference Newcombe's
hybrid score interval (Newcombe 1998, method 10, built from the two Wilson intervals); the two
agree when that interval holds 0. Writes `results/listops_reference.{json,md}`.
"""

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path

import numpy as np

from keras_ssm.intervals import difference_interval

PRESET = "lra_listops_s5"
RESULTS = Path(__file__).parent / "results"
SETTING_FLAGS = ("max_depth", "max_args", "min_length", "max_length")
# LRA's input pipeline builds its vocabulary from the validation strings it reads before
# `i > 1000` stops it (1,002 strings), and truncates every sequence at `max_length` 2,000.
LRA_VOCAB_STRINGS = 1002
LRA_PIPELINE_MAX_LENGTH = 2000
_LOADED = {}


# ---------------------------------------------------------------------------------------------
# LRA's file


def _stub_missing_imports():
    """Minimal `absl` / `tensorflow.compat.v1` stand-ins, only where the real ones are missing.

    LRA's generator needs from them only flag definitions with defaults, `tf.logging.info`
    and `tf.io.gfile.GFile` (its TSV writer).
    """
    try:
        import absl.app  # noqa: F401
        import absl.flags  # noqa: F401
    except ImportError:
        class _Flags(types.SimpleNamespace):
            def is_parsed(self):
                return True

            def __call__(self, argv):
                return argv

        flags = types.ModuleType("absl.flags")
        flags.FLAGS = _Flags()
        for kind in ("string", "integer", "float", "bool"):
            setattr(flags, f"DEFINE_{kind}", lambda name, default=None, help=None, **_: setattr(flags.FLAGS, name, default))
        app = types.ModuleType("absl.app")
        app.UsageError = type("UsageError", (Exception,), {})
        app.run = lambda main, argv=None: main(argv or sys.argv[:1])
        absl = types.ModuleType("absl")
        absl.flags, absl.app = flags, app
        sys.modules.update({"absl": absl, "absl.flags": flags, "absl.app": app})
    try:
        import tensorflow.compat.v1  # noqa: F401
    except ImportError:
        v1 = types.ModuleType("tensorflow.compat.v1")
        v1.logging = types.SimpleNamespace(info=lambda *a, **k: None)
        v1.io = types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=open))
        compat = types.ModuleType("tensorflow.compat")
        compat.v1 = v1
        tf = types.ModuleType("tensorflow")
        tf.compat = compat
        sys.modules.update({"tensorflow": tf, "tensorflow.compat": compat, "tensorflow.compat.v1": v1})


def load_lra(path):
    """LRA's `listops.py` imported from `path`, and its task settings (its flags' defaults).

    Returns:
        `(module, settings)`: `settings` has `max_depth`, `max_args`, `min_length`,
        `max_length` (the flags, parsed with no arguments: LRA's defaults), `value_p`
        (`VALUE_P`), `operators` (`OPERATORS`) and `end` (`END`).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise SystemExit(f"--lra-listops: no file {path} (google-research/long-range-arena "
                         "lra_benchmarks/data/listops.py)")
    if path not in _LOADED:  # absl refuses to define the same flags twice in a process
        _stub_missing_imports()
        spec = importlib.util.spec_from_file_location("lra_benchmarks_data_listops", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[path] = module
    module = _LOADED[path]
    for name in ("generate_tree", "to_string", "to_value", "OPERATORS", "VALUE_P", "END", "FLAGS"):
        if not hasattr(module, name):
            raise SystemExit(f"{path} has no `{name}`: is it lra_benchmarks/data/listops.py?")
    flags = module.FLAGS
    if not flags.is_parsed():
        flags([sys.argv[0]])  # no arguments: every flag keeps LRA's default
    settings = {name: int(getattr(flags, name)) for name in SETTING_FLAGS}
    settings.update(value_p=float(module.VALUE_P), operators=list(module.OPERATORS), end=module.END)
    return module, settings


def lra_sample(module, settings, n, seed):
    """`n` unique accepted trees from LRA's `generate_tree`, as LRA's `main` keeps them.

    Returns:
        `(rows, attempts)`: rows `(tree, source, value, length)` with LRA's tuple tree, its
        `to_string`, `to_value` and the length `generate_tree` reported.
    """
    state = random.getstate()
    random.seed(seed)
    trees, attempts = {}, 0
    try:
        while len(trees) < n:
            tree, length = module.generate_tree(1, settings["max_depth"], settings["max_args"])
            attempts += 1
            if settings["min_length"] < length < settings["max_length"]:
                trees.setdefault(tree, length)
    finally:
        random.setstate(state)
    rows = [(tree, module.to_string(tree), int(module.to_value(tree)), length) for tree, length in trees.items()]
    return rows, attempts


def keras_ssm_sample(settings, n, seed):
    """`n` unique trees from `keras_ssm.data.listops.generate` at LRA's settings: `(source, value)`."""
    from keras_ssm.data.listops import generate

    if seed == 0:
        raise SystemExit("--seed 0 draws the trees lra_listops_s5 was trained on (keras_ssm's data seed): "
                         "use another seed.")
    return generate(n, seed, min_length=settings["min_length"], max_length=settings["max_length"],
                    max_depth=settings["max_depth"], max_args=settings["max_args"], value_p=settings["value_p"])


# ---------------------------------------------------------------------------------------------
# Semantics


def to_lra_pairs(tree, end="]"):
    """A keras_ssm tree (`parse`'s form) as LRA's nested pairs: `[MAX 2 9 ]` -> `((("[MAX", 2), 9), "]")`.

    >>> to_lra_pairs(("[MAX", [2, ("[MIN", [4, 7])]))
    ((('[MAX', 2), ((('[MIN', 4), 7), ']')), ']')
    """
    if isinstance(tree, int):
        return tree
    op, children = tree
    pairs = (op, to_lra_pairs(children[0], end))
    for child in children[1:]:
        pairs = (pairs, to_lra_pairs(child, end))
    return (pairs, end)


def check_lra_trees(module, rows):
    """LRA's strings and values against keras_ssm's parser, serializer and evaluator.

    Returns counts: trees checked, and mismatches of the value (`evaluate`), of the
    round trip (`serialize(parse(tokenize(s))) == s`) and of the length (`num_tokens`).
    """
    from keras_ssm.data.listops import evaluate, num_tokens, parse, serialize, tokenize

    bad = Counter()
    examples = []
    for _, source, value, length in rows:
        tree = parse(tokenize(source))
        for name, ok in (("value", evaluate(tree) == value), ("round_trip", serialize(tree) == source),
                         ("length", num_tokens(tree) == length)):
            if not ok:
                bad[name] += 1
                if len(examples) < 5:
                    examples.append({"check": name, "source": source[:200], "lra_value": value})
    return {"trees": len(rows), "value_mismatches": bad["value"], "round_trip_mismatches": bad["round_trip"],
            "length_mismatches": bad["length"], "examples": examples}


def check_keras_ssm_trees(module, rows, end):
    """keras_ssm's trees rebuilt as LRA's pairs: LRA's `to_string` and `to_value` against keras_ssm's.

    Every operator node is checked on its own (LRA's `to_value` of the node with its
    arguments' values against keras_ssm's), so the counts cover every operator and argument
    count that occurs, not only the roots.
    """
    from keras_ssm.data.listops import parse, tokenize
    from keras_ssm.data.listops.tokens import _apply

    bad = Counter()
    nodes = Counter()
    examples = []

    def walk(tree):  # keras_ssm's value of `tree`, checking each operator node against LRA's
        if isinstance(tree, int):
            return tree
        op, children = tree
        values = [walk(child) for child in children]
        ours = _apply(op, values)
        theirs = int(module.to_value(to_lra_pairs((op, values), end)))
        nodes[op] += 1
        if ours != theirs:
            bad["node_value"] += 1
            if len(examples) < 5:
                examples.append({"check": "node_value", "op": op, "arguments": values, "keras_ssm": ours, "lra": theirs})
        return ours

    for source, value in rows:
        tree = parse(tokenize(source))
        pairs = to_lra_pairs(tree, end)
        if walk(tree) != value:
            bad["label"] += 1
        if int(module.to_value(pairs)) != value:
            bad["value"] += 1
            if len(examples) < 5:
                examples.append({"check": "value", "source": source[:200], "keras_ssm": value})
        if module.to_string(pairs) != source:
            bad["string"] += 1
            if len(examples) < 5:
                examples.append({"check": "string", "source": source[:200]})
    return {"trees": len(rows), "operator_nodes": dict(sorted(nodes.items())), "value_mismatches": bad["value"],
            "node_value_mismatches": bad["node_value"], "string_mismatches": bad["string"],
            "label_mismatches": bad["label"], "examples": examples}


def check_lra_pipeline(sources):
    """The tokens LRA's input pipeline makes of `sources` against keras_ssm's `tokenize` / `encode`.

    LRA (input_pipeline.py): `]` -> `X`, `(` and `)` removed (`tf.strings.regex_replace`),
    whitespace tokens (tensorflow_text's `WhitespaceTokenizer`; here `tf.strings.split`, which
    splits on whitespace the same way), a `tfds.deprecated.text.TokenTextEncoder` over the
    tokens of the first 1,002 strings, ids truncated at 2,000. Each LRA id is mapped back to its
    token (`X` -> `]`) and compared with keras_ssm's tokens; the LRA id -> keras_ssm id map must be
    one to one.
    """
    import tensorflow as tf

    from keras_ssm.data.listops import CLOSE, TOKEN_IDS, UNK_ID, encode, tokenize

    strings = tf.constant(sources)
    strings = tf.strings.regex_replace(strings, "]", "X")
    strings = tf.strings.regex_replace(strings, r"\(", "")
    strings = tf.strings.regex_replace(strings, r"\)", "")
    words = [[w.decode() for w in row] for row in tf.strings.split(strings).to_list()]
    vocab = sorted({w for row in words[:LRA_VOCAB_STRINGS] for w in row})
    try:
        import tensorflow_datasets as tfds

        encoder = tfds.deprecated.text.TokenTextEncoder(vocab)
        encoder_name = "tfds.deprecated.text.TokenTextEncoder"
    except ImportError:  # the same map: a vocabulary token's id is its position + 1 (0 pads)
        encoder = types.SimpleNamespace(tokens=vocab, encode=lambda s: [vocab.index(w) + 1 for w in s.split()])
        encoder_name = "position + 1 in the vocabulary (tensorflow_datasets missing)"
    token_mismatches, unknown, truncated, id_map, examples = 0, 0, 0, {}, []
    one_to_one = True
    for source, row in zip(sources, words):
        ids = encoder.encode(" ".join(row))
        truncated += len(ids) > LRA_PIPELINE_MAX_LENGTH
        ids = ids[:LRA_PIPELINE_MAX_LENGTH]
        lra_tokens = [CLOSE if encoder.tokens[i - 1] == "X" else encoder.tokens[i - 1] for i in ids]
        ours = encode(source)
        unknown += int((ours == UNK_ID).sum())
        if lra_tokens != tokenize(source) or len(ours) != len(ids):
            token_mismatches += 1
            if len(examples) < 5:
                examples.append(source[:200])
            continue
        for lra_id, our_id in zip(ids, ours.tolist()):
            if id_map.setdefault(int(lra_id), our_id) != our_id:
                one_to_one = False
    one_to_one = one_to_one and len(set(id_map.values())) == len(id_map)
    return {"strings": len(sources), "encoder": encoder_name, "lra_vocabulary": vocab,
            "lra_vocabulary_size": len(vocab),
            "token_mismatches": token_mismatches, "keras_ssm_unknown_tokens": unknown,
            "truncated_by_lra_at_2000": truncated, "id_map_one_to_one": one_to_one,
            "lra_id_to_keras_ssm_id": {str(k): v for k, v in sorted(id_map.items())},
            "keras_ssm_ids": {t: TOKEN_IDS[t] for t in sorted(set(TOKEN_IDS) - {"<pad>", "<unk>", "<eos>"})},
            "examples": examples}


# ---------------------------------------------------------------------------------------------
# Distributions


def tree_statistics(source):
    """Length, depth, digit depths, operator count, arguments per operator, operators and root of one tree.

    `depth` counts operator levels (`[MAX 2 9 ]` has depth 1). Digit depths count as LRA's
    `generate_tree` does (the root at depth 1, so the digits of `[MAX 2 9 ]` are at depth 2; a
    node at depth `max_depth` is always a digit).

    >>> s = tree_statistics("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )")
    >>> s["length"], s["depth"], s["digit_depths"], s["operator_count"], s["arguments"], s["root"]
    (7, 2, [2, 3, 3], 2, [2, 2], '[SM')
    """
    from keras_ssm.data.listops import num_tokens, parse, tokenize

    tree = parse(tokenize(source))
    arguments, operators, digit_depths = [], [], []

    def levels(node, depth):  # operator levels at and below `node`, which sits at LRA depth `depth`
        if isinstance(node, int):
            digit_depths.append(depth)
            return 0
        op, children = node
        operators.append(op)
        arguments.append(len(children))
        return 1 + max(levels(child, depth + 1) for child in children)

    return {"length": num_tokens(tree), "depth": levels(tree, 1), "digit_depths": digit_depths,
            "operator_count": len(operators), "arguments": arguments, "operators": operators,
            "root": tree[0] if isinstance(tree, tuple) else None}


def summarize(stats, labels):
    """Per-sample summary of `tree_statistics` rows and their labels."""
    lengths = np.array([s["length"] for s in stats])
    arguments = [a for s in stats for a in s["arguments"]]
    return {
        "trees": len(stats),
        "length": {"mean": float(lengths.mean()), "std": float(lengths.std()),
                   "quantiles_10_25_50_75_90": [float(q) for q in np.percentile(lengths, [10, 25, 50, 75, 90])],
                   "min": int(lengths.min()), "max": int(lengths.max())},
        "depth": dict(sorted(Counter(s["depth"] for s in stats).items())),
        "digit_depth": dict(sorted(Counter(d for s in stats for d in s["digit_depths"]).items())),
        "digit_depth_mean": float(np.mean([d for s in stats for d in s["digit_depths"]])),
        "operators_per_tree_mean": float(np.mean([s["operator_count"] for s in stats])),
        "arguments_per_operator": dict(sorted(Counter(arguments).items())),
        "arguments_mean": float(np.mean(arguments)),
        "operator_mix": dict(sorted(Counter(op for s in stats for op in s["operators"]).items())),
        "root_operator": dict(sorted(Counter(s["root"] for s in stats).items())),
        "answers": {str(k): v for k, v in sorted(Counter(int(v) for v in labels).items())},
    }


def _chi_square(table):
    from scipy import stats as st

    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2:
        return 0.0, 0, 1.0
    chi2, p, dof, _ = st.chi2_contingency(table)
    return float(chi2), int(dof), float(p)


def pooled_permutation_test(counts_a, counts_b, permutations=2000, seed=0):
    """Chi-square of pooled category counts, its p from permuting whole trees between the samples.

    The categories of one tree's nodes (its digits' depths, its operators' argument counts) are
    not independent of each other, so the chi-square's own p over all nodes would be far too
    small; exchanging whole trees keeps each tree's nodes together (a tree-level permutation
    test, valid because the trees themselves are independent).

    Args:
        counts_a, counts_b: `(trees, categories)` counts per tree.

    Returns:
        `(chi2, dof, p)`: the pooled table's chi-square and degrees of freedom, and the
        permutation p `(1 + #{permuted chi2 >= observed}) / (1 + permutations)`.
    """
    chi2, dof, _ = _chi_square(np.stack([counts_a.sum(0), counts_b.sum(0)]))
    if dof == 0:
        return chi2, dof, 1.0
    both = np.concatenate([counts_a, counts_b])
    total, n = both.sum(0), len(counts_a)
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(permutations):
        first = both[rng.permutation(len(both))[:n]].sum(0)
        exceed += _chi_square(np.stack([first, total - first]))[0] >= chi2 - 1e-9
    return chi2, dof, (1 + exceed) / (1 + permutations)


def compare(stats_a, labels_a, stats_b, labels_b, permutations=2000):
    """Two-sample tests between samples a and b.

    One number per tree (length, operators, mean digit depth, mean arguments): two-sample
    Kolmogorov-Smirnov. One category per tree (depth, root operator, answer): chi-square.
    Categories pooled over every node of a tree (digit depths, arguments per operator, operator
    mix): the pooled chi-square with a tree-level permutation p (`pooled_permutation_test`).
    """
    from scipy import stats as st

    tests = {}
    per_tree = {
        "length": lambda s: s["length"],
        "operators per tree": lambda s: s["operator_count"],
        "mean digit depth (per tree)": lambda s: float(np.mean(s["digit_depths"])),
        "mean arguments per operator (per tree)": lambda s: float(np.mean(s["arguments"])),
    }
    for name, measure in per_tree.items():
        result = st.ks_2samp([measure(s) for s in stats_a], [measure(s) for s in stats_b])
        tests[name] = {"test": "Kolmogorov-Smirnov", "statistic": float(result.statistic), "p": float(result.pvalue)}
    one_per_tree = {
        "depth in operator levels": ([s["depth"] for s in stats_a], [s["depth"] for s in stats_b]),
        "root operator": ([s["root"] for s in stats_a], [s["root"] for s in stats_b]),
        "answer": ([int(v) for v in labels_a], [int(v) for v in labels_b]),
    }
    for name, (x, y) in one_per_tree.items():
        keys = sorted(set(x) | set(y))
        cx, cy = Counter(x), Counter(y)
        chi2, dof, p = _chi_square(np.array([[cx[k] for k in keys], [cy[k] for k in keys]]))
        tests[name] = {"test": "chi-square", "statistic": chi2, "dof": dof, "p": p}
    pooled = {
        "digit depth (all digits)": "digit_depths",
        "arguments per operator (all nodes)": "arguments",
        "operator mix (all nodes)": "operators",
    }
    for i, (name, key) in enumerate(pooled.items()):
        keys = sorted({v for s in stats_a + stats_b for v in s[key]})
        index = {k: j for j, k in enumerate(keys)}

        def counts(stats):
            out = np.zeros((len(stats), len(keys)), np.int64)
            for row, s in enumerate(stats):
                for v in s[key]:
                    out[row, index[v]] += 1
            return out

        chi2, dof, p = pooled_permutation_test(counts(stats_a), counts(stats_b), permutations, seed=i)
        tests[name] = {"test": f"chi-square, tree permutation p ({permutations})", "statistic": chi2, "dof": dof, "p": p}
    return tests


# ---------------------------------------------------------------------------------------------
# The preset


def write_keras_ssm_tsv(folder, rows):
    """`basic_test.tsv` as `keras_ssm.data.listops.write_dataset` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "basic_test.tsv", "w", encoding="ascii", newline="\n") as f:
        f.write("Source\tTarget\n")
        for source, label in rows:
            f.write(f"{source}\t{label}\n")


def evaluate_folder(folder, batch_size):
    """The preset scored on `folder` as `zoo evaluate` does, then example by example.

    Returns:
        `(summary, predictions)`: `summary` from `evaluate_preset` (accuracy, correct, interval)
        plus the example-by-example count; `predictions` maps each example's token bytes
        (uint8 ids, no padding) to the predicted class.
    """
    from keras_ssm import data as data_lib
    from keras_ssm import zoo
    from keras_ssm.zoo.evaluation import evaluate_preset

    start = time.perf_counter()
    summary = evaluate_preset(PRESET, str(folder), batch_size=batch_size, verbose=0)
    summary["seconds"] = time.perf_counter() - start
    metadata = zoo.describe(PRESET)
    data = data_lib.load(metadata["data"]["task"], str(folder), batch_size=batch_size,
                         **metadata["data"].get("options", {}))
    model = zoo.load(PRESET)
    predictions, correct = {}, 0
    for x, y in data.test:
        x, y = np.asarray(x), np.asarray(y)
        predicted = np.asarray(model.predict_on_batch(x)).argmax(-1)
        correct += int((predicted == y).sum())
        for row, p in zip(x, predicted):
            predictions[row[row != 0].astype(np.uint8).tobytes()] = int(p)
    summary["correct_example_by_example"] = correct
    return summary, predictions


def breakdown(sources, labels, predictions, stats):
    """Accuracy by answer, root operator and length band (as a fraction, with the count)."""
    from keras_ssm.data.listops import encode

    predicted = np.array([predictions[encode(s).astype(np.uint8).tobytes()] for s in sources])
    labels = np.asarray(labels)
    right = predicted == labels
    lengths = np.array([s["length"] for s in stats])
    groups = {
        "answer": {str(k): labels == k for k in range(10)},
        "root operator": {op: np.array([s["root"] == op for s in stats]) for op in ("[MAX", "[MED", "[MIN", "[SM")},
        "length": {f"{lo}-{hi}": (lengths >= lo) & (lengths < hi) for lo, hi in ((500, 750), (750, 1000), (1000, 2000))},
    }
    return {name: {key: {"examples": int(mask.sum()), "accuracy": float(right[mask].mean()) if mask.any() else None}
                   for key, mask in members.items()} for name, members in groups.items()}


# ---------------------------------------------------------------------------------------------
# Report


def _pct(value):
    return f"{100 * value:.2f} %"


def _interval(interval):
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def render(result):
    """The markdown page of a result dict."""
    ev, lra, ours = result["evaluation"], result["evaluation"]["lra"], result["evaluation"]["keras_ssm"]
    lines = [
        "# ListOps: `lra_listops_s5` on LRA's own generator against keras_ssm's",
        "",
        f"`{result['command']}` ({result['date']}, Keras backend {result['backend']}, "
        f"{result['seconds']:.0f} s). LRA's file: `{result['lra_file']['path']}` (sha256 "
        f"`{result['lra_file']['sha256'][:16]}…`"
        + (f", from {result['lra_file']['source']}" if result["lra_file"].get("source") else "")
        + "). Written by `benchmarks/listops_reference.py`.",
        "",
        f"Settings read from LRA's flags and constants: max depth {result['settings']['max_depth']}, "
        f"2-{result['settings']['max_args']} arguments, {result['settings']['min_length']} < length < "
        f"{result['settings']['max_length']}, an operator below the maximum depth with probability "
        f"{result['settings']['value_p']}, operators {', '.join(result['settings']['operators'])}; "
        f"keras_ssm's `generate` ran with the same values (seed {result['seed']}).",
        "",
        "## Accuracy (Wilson 95 %; difference: Newcombe's hybrid score interval)",
        "",
        "| trees | examples | correct | accuracy | 95 % interval |",
        "|---|---|---|---|---|",
        f"| LRA `generate_tree` | {lra['examples']} | {lra['correct']} | {_pct(lra['accuracy'])} | {_interval(lra['interval'])} |",
        f"| keras_ssm `generate` | {ours['examples']} | {ours['correct']} | {_pct(ours['accuracy'])} | {_interval(ours['interval'])} |",
        f"| published test split (metadata.json) | {ev['published']['examples']} | {ev['published']['correct']} | "
        f"{_pct(ev['published']['accuracy'])} | {_interval(ev['published']['interval'])} |",
        "",
        f"LRA − keras_ssm: {100 * ev['difference']:+.2f} points, 95 % interval "
        f"[{100 * ev['difference_interval'][0]:+.1f}, {100 * ev['difference_interval'][1]:+.1f}]: "
        f"**{'they agree' if ev['agree'] else 'they differ'}** (the interval "
        f"{'holds' if ev['agree'] else 'does not hold'} 0). LRA − published: {100 * ev['lra_minus_published']:+.2f} "
        f"[{100 * ev['lra_minus_published_interval'][0]:+.1f}, {100 * ev['lra_minus_published_interval'][1]:+.1f}]; "
        f"keras_ssm (fresh trees) − published: {100 * ev['keras_ssm_minus_published']:+.2f} "
        f"[{100 * ev['keras_ssm_minus_published_interval'][0]:+.1f}, {100 * ev['keras_ssm_minus_published_interval'][1]:+.1f}] "
        "(the published figure is keras_ssm's seed-0 test split, scored once at publication).",
        f"Scored as `zoo evaluate` does (`evaluate_preset`); the example-by-example pass counted "
        f"{lra['correct_example_by_example']} and {ours['correct_example_by_example']} correct.",
        "",
        "## Semantics",
        "",
    ]
    sem = result["semantics"]
    lines += [
        f"- LRA's {sem['lra_trees']['trees']} trees read by keras_ssm: value mismatches "
        f"{sem['lra_trees']['value_mismatches']}, `serialize(parse(tokenize(s))) != s` "
        f"{sem['lra_trees']['round_trip_mismatches']}, length mismatches {sem['lra_trees']['length_mismatches']}.",
        f"- keras_ssm's {sem['keras_ssm_trees']['trees']} trees rebuilt as LRA's nested pairs: LRA `to_value` "
        f"mismatches {sem['keras_ssm_trees']['value_mismatches']}, LRA `to_string` mismatches "
        f"{sem['keras_ssm_trees']['string_mismatches']}; every operator node checked on its own "
        f"({sum(sem['keras_ssm_trees']['operator_nodes'].values())} nodes: "
        + ", ".join(f"{k} {v}" for k, v in sem["keras_ssm_trees"]["operator_nodes"].items())
        + f"): {sem['keras_ssm_trees']['node_value_mismatches']} mismatches.",
        f"- LRA's input pipeline on LRA's strings ({sem['lra_pipeline']['encoder']}, vocabulary "
        f"{sem['lra_pipeline']['lra_vocabulary_size']} tokens from the first {LRA_VOCAB_STRINGS} strings): "
        f"token mismatches with keras_ssm's `tokenize` {sem['lra_pipeline']['token_mismatches']}, keras_ssm `<unk>` "
        f"ids {sem['lra_pipeline']['keras_ssm_unknown_tokens']}, sequences LRA truncates at 2,000 "
        f"{sem['lra_pipeline']['truncated_by_lra_at_2000']}, LRA id -> keras_ssm id one to one: "
        f"{sem['lra_pipeline']['id_map_one_to_one']}.",
        f"- Trees in both samples: {result['shared_trees']}.",
        "",
    ]
    for title, key in (("Distributions of all the trees drawn", "all"), ("Distributions of the evaluated trees", "evaluated")):
        block = result["distributions"][key]
        a, b = block["lra"], block["keras_ssm"]
        lines += [f"## {title} ({a['trees']} per generator)", "",
                  "| measure | LRA | keras_ssm |", "|---|---|---|",
                  f"| length mean (std) | {a['length']['mean']:.1f} ({a['length']['std']:.1f}) | "
                  f"{b['length']['mean']:.1f} ({b['length']['std']:.1f}) |",
                  f"| length 10/25/50/75/90 % | {' / '.join(f'{q:.0f}' for q in a['length']['quantiles_10_25_50_75_90'])} | "
                  f"{' / '.join(f'{q:.0f}' for q in b['length']['quantiles_10_25_50_75_90'])} |",
                  f"| depth (operator levels): share per depth | {_shares(a['depth'])} | {_shares(b['depth'])} |",
                  f"| digit depth (root = 1): mean | {a['digit_depth_mean']:.3f} | {b['digit_depth_mean']:.3f} |",
                  f"| digit depth: share per depth | {_shares(a['digit_depth'])} | {_shares(b['digit_depth'])} |",
                  f"| operators per tree (mean) | {a['operators_per_tree_mean']:.1f} | {b['operators_per_tree_mean']:.1f} |",
                  f"| arguments per operator (mean) | {a['arguments_mean']:.3f} | {b['arguments_mean']:.3f} |",
                  f"| operator mix | {_shares(a['operator_mix'])} | {_shares(b['operator_mix'])} |",
                  f"| root operator | {_shares(a['root_operator'])} | {_shares(b['root_operator'])} |",
                  f"| answers 0-9 | {_shares(a['answers'])} | {_shares(b['answers'])} |",
                  "", "| test | statistic | p |", "|---|---|---|"]
        lines += [f"| {name} ({t['test']}) | {t['statistic']:.4f} | {t['p']:.3f} |" for name, t in block["tests"].items()]
        lines += ["", "Categories pooled over a tree's nodes take their p from permuting whole trees between the "
                  "samples (a tree's nodes are not independent, so the chi-square's own p would be far too small).",
                  "", f"Smallest p {block['min_p']:.3f} over {len(block['tests'])} tests "
                  f"(Bonferroni 5 % threshold {0.05 / len(block['tests']):.4f}): "
                  f"{'no difference detected' if block['min_p'] >= 0.05 / len(block['tests']) else 'a difference'}.", ""]
    lines += ["## Accuracy by group (evaluated trees)", "", "| group | LRA: n, accuracy | keras_ssm: n, accuracy |", "|---|---|---|"]
    for name, members in result["breakdown"]["lra"].items():
        for key, value in members.items():
            other = result["breakdown"]["keras_ssm"][name][key]
            lines.append(f"| {name} {key} | {value['examples']}, {_maybe(value['accuracy'])} | "
                         f"{other['examples']}, {_maybe(other['accuracy'])} |")
    lines += ["", result["conclusion"], ""]
    return "\n".join(lines)


def _maybe(value):
    return "-" if value is None else f"{100 * value:.1f} %"


def _shares(counts):
    total = sum(counts.values())
    return " ".join(f"{k}: {100 * v / total:.1f}" for k, v in counts.items())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks listops_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--lra-listops", required=True,
                        help="google-research/long-range-arena lra_benchmarks/data/listops.py")
    parser.add_argument("--samples", type=int, default=2000, help="trees per generator the preset is scored on")
    parser.add_argument("--stats-samples", type=int, default=10000,
                        help="trees per generator for the distributions (at least --samples)")
    parser.add_argument("--seed", type=int, default=1, help="both generators' seed (not 0: the preset's training seed)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lra-source", default=None,
                        help="where the file came from, recorded in the results (e.g. google-research/long-range-arena@COMMIT)")
    parser.add_argument("--permutations", type=int, default=2000,
                        help="tree permutations for the p of the pooled node categories")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be positive")
    total = max(args.samples, args.stats_samples)
    started = time.perf_counter()

    import hashlib

    import keras

    from keras_ssm import zoo
    from keras_ssm.data.listops import OPERATORS
    from keras_ssm.intervals import wilson_interval

    module, settings = load_lra(args.lra_listops)
    lra_path = Path(args.lra_listops).resolve()
    ours_ops = set(OPERATORS)
    if set(settings["operators"]) != ours_ops:
        print(f"warning: LRA's operators {settings['operators']} differ from keras_ssm's {sorted(ours_ops)}", file=sys.stderr)
    print(f"settings: {settings}", file=sys.stderr)
    t = time.perf_counter()
    lra_rows, attempts = lra_sample(module, settings, total, args.seed)
    print(f"LRA: {len(lra_rows)} trees ({attempts} drawn) in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    t = time.perf_counter()
    ours_rows = keras_ssm_sample(settings, total, args.seed)
    print(f"keras_ssm: {len(ours_rows)} trees in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    semantics = {"lra_trees": check_lra_trees(module, lra_rows),
                 "keras_ssm_trees": check_keras_ssm_trees(module, ours_rows, settings["end"]),
                 "lra_pipeline": check_lra_pipeline([row[1] for row in lra_rows[:args.samples]])}
    print(f"semantics checked ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    lra_stats = [tree_statistics(row[1]) for row in lra_rows]
    ours_stats = [tree_statistics(source) for source, _ in ours_rows]
    lra_labels, ours_labels = [row[2] for row in lra_rows], [label for _, label in ours_rows]
    n = args.samples
    distributions = {}
    for key, (sa, la, sb, lb) in {"all": (lra_stats, lra_labels, ours_stats, ours_labels),
                                  "evaluated": (lra_stats[:n], lra_labels[:n], ours_stats[:n], ours_labels[:n])}.items():
        tests = compare(sa, la, sb, lb, permutations=args.permutations)
        distributions[key] = {"lra": summarize(sa, la), "keras_ssm": summarize(sb, lb), "tests": tests,
                              "min_p": min(t["p"] for t in tests.values())}
    print(f"distributions compared ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        lra_folder, ours_folder = Path(tmp) / "lra", Path(tmp) / "keras_ssm"
        lra_folder.mkdir()
        module.write_to_file([[row[1], row[2]] for row in lra_rows[:n]], str(lra_folder / "basic_test"))
        write_keras_ssm_tsv(ours_folder, ours_rows[:n])
        lra_eval, lra_pred = evaluate_folder(lra_folder, args.batch_size)
        print(f"LRA trees: {lra_eval['accuracy']:.4f} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        ours_eval, ours_pred = evaluate_folder(ours_folder, args.batch_size)
        print(f"keras_ssm trees: {ours_eval['accuracy']:.4f} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    metrics = zoo.describe(PRESET)["metrics"]
    published_correct = round(metrics["accuracy"] * metrics["examples"])
    published = {"examples": metrics["examples"], "correct": published_correct, "accuracy": published_correct / metrics["examples"],
                 "interval": list(wilson_interval(published_correct, metrics["examples"]))}
    for summary in (lra_eval, ours_eval):
        summary["interval"] = list(summary["interval"])
    diff = lra_eval["correct"] / lra_eval["examples"] - ours_eval["correct"] / ours_eval["examples"]
    diff_interval = difference_interval(lra_eval["correct"], lra_eval["examples"], ours_eval["correct"], ours_eval["examples"])
    vs_published = difference_interval(lra_eval["correct"], lra_eval["examples"], published_correct, metrics["examples"])
    ours_vs_published = difference_interval(ours_eval["correct"], ours_eval["examples"], published_correct, metrics["examples"])
    evaluation = {
        "lra": lra_eval, "keras_ssm": ours_eval, "published": published,
        "difference": diff, "difference_interval": list(diff_interval),
        "agree": bool(diff_interval[0] <= 0 <= diff_interval[1]),
        "lra_minus_published": lra_eval["correct"] / lra_eval["examples"] - published["accuracy"],
        "lra_minus_published_interval": list(vs_published),
        "keras_ssm_minus_published": ours_eval["correct"] / ours_eval["examples"] - published["accuracy"],
        "keras_ssm_minus_published_interval": list(ours_vs_published),
    }
    result = {
        "command": "python -m benchmarks listops_reference " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "backend": keras.backend.backend(),
        "preset": PRESET,
        "lra_file": {"path": str(lra_path), "source": args.lra_source,
                     "sha256": hashlib.sha256(lra_path.read_bytes()).hexdigest()},
        "settings": settings, "seed": args.seed, "samples": n, "stats_samples": total,
        "lra_attempts": attempts,
        "semantics": semantics,
        "shared_trees": len({row[1] for row in lra_rows} & {source for source, _ in ours_rows}),
        "distributions": distributions,
        "evaluation": evaluation,
        "breakdown": {"lra": breakdown([r[1] for r in lra_rows[:n]], lra_labels[:n], lra_pred, lra_stats[:n]),
                      "keras_ssm": breakdown([s for s, _ in ours_rows[:n]], ours_labels[:n], ours_pred, ours_stats[:n])},
    }
    semantics_ok = (not any(semantics["lra_trees"][k] for k in ("value_mismatches", "round_trip_mismatches", "length_mismatches"))
                    and not any(semantics["keras_ssm_trees"][k] for k in ("value_mismatches", "string_mismatches", "node_value_mismatches"))
                    and not semantics["lra_pipeline"]["token_mismatches"] and semantics["lra_pipeline"]["id_map_one_to_one"])
    threshold = 0.05 / len(distributions["all"]["tests"])
    result["semantics_agree"] = semantics_ok
    result["distributions_agree"] = distributions["all"]["min_p"] >= threshold
    result["conclusion"] = (
        f"Conclusion: the semantics {'agree on every tree and node' if semantics_ok else 'DIFFER (see above)'}; "
        f"the distributions {'show no difference' if result['distributions_agree'] else 'differ'} "
        f"(smallest p {distributions['all']['min_p']:.3f}, Bonferroni threshold {threshold:.4f}); the preset scores "
        f"{_pct(lra_eval['accuracy'])} {_interval(lra_eval['interval'])} on LRA's trees and "
        f"{_pct(ours_eval['accuracy'])} {_interval(ours_eval['interval'])} on keras_ssm's: "
        f"{'they agree' if evaluation['agree'] else 'they differ'} within the interval of the difference "
        f"[{100 * diff_interval[0]:+.1f}, {100 * diff_interval[1]:+.1f}] points.")
    result["seconds"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "listops_reference.json").write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    (out / "listops_reference.md").write_text(render(result))
    print(render(result))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


if __name__ == "__main__":
    main()
