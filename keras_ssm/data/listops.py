"""ListOps (LRA): the tokenizer, the loader, and the tree generator.

An example is a nested expression of list operators on digits, e.g.
`[MAX 2 9 [MIN 4 7 ] 0 ]`; the label is its value, 0-9 (10 classes).

- `MIN`, `MAX`: minimum, maximum of the arguments;
- `MED`: median (numpy-style: mean of the two middle values for an even
  count), truncated to an integer;
- `SM`: sum modulo 10.

On disk (the LRA release, `listops-1000/`) each split is a TSV file
`basic_{train,val,test}.tsv` with a header `Source<TAB>Target`. `Source`
writes every operator node as a left-nested chain of pairs, e.g.
`[MAX 2 9 ]` -> `( ( ( [MAX 2 ) 9 ) ] )`; parentheses carry no information.

Vocabulary (fixed, so ids never depend on the data; 18 ids, like S4's):

    0 <pad>   1 <unk>   2 <eos>   3..12 the digits 0..9
    13 [MIN   14 [MAX   15 [MED   16 [SM   17 ]

Tokens the LRA release never uses (`[FIRST`, `[LAST`) map to `<unk>`.

The generator (`python -m keras_ssm.data.listops --out DIR`) follows the LRA
settings: max depth 10, 2-10 arguments per operator, a node below depth 10
is an operator with probability 0.25, trees kept when 500 < length < 2000
tokens (length counts operators, digits and `]`), 96,000 / 2,000 / 2,000
unique trees. Generation is split into chunks with their own seeds (from one
`numpy.random.SeedSequence`), so the output depends on `--seed` only, not on
the number of worker processes.
"""

import argparse
import os
import random
import re
import sys
import time

import numpy as np

from keras_ssm.data.base import (
    TaskData,
    check_data_dir,
    check_positive_int,
    missing_data,
)

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
CLOSE = "]"
VOCAB = ("<pad>", "<unk>", "<eos>") + tuple(str(d) for d in range(10)) + OPERATORS + (CLOSE,)
TOKEN_IDS = {token: i for i, token in enumerate(VOCAB)}
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
VOCAB_SIZE = len(VOCAB)
LABELS = tuple(str(d) for d in range(10))
UNUSED_OPERATORS = ("[FIRST", "[LAST")

EXPECTED_LAYOUT = """\
  DATA_DIR/basic_train.tsv, basic_val.tsv, basic_test.tsv
  (tab-separated, header `Source<TAB>Target`; the LRA release's `listops-1000/` folder)"""
WHERE = (
    "the LRA release (lra_release.gz, folder listops-1000), or generate it here: "
    "`python -m keras_ssm.data.listops --out DATA_DIR`."
)

_TOKEN_RE = re.compile(r"\[[A-Z]+|\]|\d+|\S+")


def tokenize(source):
    """Splits a `Source` string into tokens, dropping the parentheses (as LRA does).

    >>> tokenize("( ( ( [MAX 2 ) 9 ) ] )")
    ['[MAX', '2', '9', ']']
    """
    return _TOKEN_RE.findall(source.replace("(", " ").replace(")", " "))


def encode(source, append_eos=False):
    """Token ids (int32 `(length,)`) of a `Source` string; ids are `VOCAB` positions.

    >>> encode("( ( ( [MAX 2 ) 9 ) ] )").tolist()
    [14, 5, 12, 17]
    """
    ids = [TOKEN_IDS.get(t, UNK_ID) for t in tokenize(source)]
    if append_eos:
        ids.append(EOS_ID)
    return np.asarray(ids, np.int32)


def decode(ids):
    """Tokens of an id sequence, padding dropped: the inverse of `encode`.

    >>> decode([14, 5, 12, 17, 0, 0])
    ['[MAX', '2', '9', ']']
    """
    return [VOCAB[int(i)] for i in ids if int(i) != PAD_ID]


# Fast encoding of whole files: each token becomes one character, and a
# 256-entry table maps characters to ids (C speed instead of a dict lookup
# per token; ~100M tokens for the LRA training file).
_CHAR_OF = {"[MIN": "a", "[MAX": "b", "[MED": "c", "[SM": "d", "[FIRST": "e", "[LAST": "f"}
_DELETE = str.maketrans("", "", "() \t\n\r")
_MULTI_DIGIT = re.compile(r"\d\d")
_LUT = np.full(256, 255, np.uint8)
for _d in range(10):
    _LUT[ord(str(_d))] = TOKEN_IDS[str(_d)]
for _op, _ch in _CHAR_OF.items():
    _LUT[ord(_ch)] = TOKEN_IDS.get(_op, UNK_ID)
_LUT[ord("]")] = TOKEN_IDS[CLOSE]


def _encode_fast(source):
    """Like `encode` for well-formed LRA strings (uint8 ids); None if anything is unusual."""
    if _MULTI_DIGIT.search(source):
        return None
    text = source
    for op, ch in _CHAR_OF.items():
        text = text.replace(op, ch)
    text = text.translate(_DELETE)
    ids = _LUT[np.frombuffer(text.encode("ascii", "replace"), np.uint8)]
    return None if (ids == 255).any() else ids


def parse(tokens):
    """The tree of a token list: a digit is an int, an operator node `(op, [children])`.

    >>> parse(tokenize("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )"))
    ('[SM', [1, ('[MIN', [4, 7])])
    """
    tokens = [t for t in tokens if t not in ("<pad>", "<eos>")]
    stack = [("root", [])]
    for token in tokens:
        if token.startswith("["):
            stack.append((token, []))
        elif token == CLOSE:
            if len(stack) < 2:
                raise ValueError("unbalanced `]` in the expression.")
            node = stack.pop()
            stack[-1][1].append(node)
        elif token.isdigit() and len(token) == 1:
            stack[-1][1].append(int(token))
        else:
            raise ValueError(f"unknown ListOps token {token!r}.")
    if len(stack) != 1 or len(stack[0][1]) != 1:
        raise ValueError("the expression is not a single well-formed tree.")
    return stack[0][1][0]


def _apply(op, values):
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        values = sorted(values)
        k = len(values)
        # numpy median, then truncation: values are >= 0, so floor.
        return values[k // 2] if k % 2 else (values[k // 2 - 1] + values[k // 2]) // 2
    if op == "[SM":
        return sum(values) % 10
    if op == "[FIRST":
        return values[0]
    if op == "[LAST":
        return values[-1]
    raise ValueError(f"unknown operator {op!r}.")


def evaluate(tree):
    """The value (0-9) of a tree, or of a `Source` string.

    >>> evaluate("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )")
    5
    >>> evaluate(('[MED', [3, 4]))
    3
    """
    if isinstance(tree, str):
        tree = parse(tokenize(tree))
    if isinstance(tree, int):
        return tree
    op, children = tree
    return _apply(op, [evaluate(c) for c in children])


def serialize(tree):
    """The LRA `Source` string of a tree (inverse of `parse(tokenize(...))`).

    >>> serialize(('[MAX', [2, 9]))
    '( ( ( [MAX 2 ) 9 ) ] )'
    """
    if isinstance(tree, int):
        return str(tree)
    op, children = tree
    # pair(pair(pair(op, c1), c2), ..., "]"): k + 1 opening parentheses.
    return "( " * (len(children) + 1) + op + " " + " ) ".join(map(serialize, children)) + " ) ] )"


def num_tokens(tree):
    """Length of a tree in tokens (operators, digits and `]`)."""
    if isinstance(tree, int):
        return 1
    return 2 + sum(num_tokens(c) for c in tree[1])


# --------------------------------------------------------------------------
# Generator


class _TooLong(Exception):
    pass


def _random_tree(rand, max_depth, max_args, value_p, max_length):
    """One random tree as `(source, value, length)`; raises _TooLong past `max_length`.

    Stopping early on a tree that is already too long does not bias the
    accepted ones: every tree is drawn from fresh random numbers.
    """
    count = [0]

    def node(depth):
        if depth >= max_depth or rand() > value_p:
            count[0] += 1
            digit = int(rand() * 10)
            return str(digit), digit
        k = 2 + int(rand() * (max_args - 1))  # uniform on 2..max_args
        count[0] += 2
        if count[0] >= max_length:
            raise _TooLong
        parts, values = [], []
        for _ in range(k):
            text, value = node(depth + 1)
            parts.append(text)
            values.append(value)
        op = OPERATORS[int(rand() * 4)]
        if count[0] >= max_length:
            raise _TooLong
        return "( " * (k + 1) + op + " " + " ) ".join(parts) + " ) ] )", _apply(op, values)

    text, value = node(1)
    return text, value, count[0]


def _chunk_seed(seed, chunk):
    state = np.random.SeedSequence(seed, spawn_key=(chunk,)).generate_state(2, np.uint64)
    return int(state[0]) << 64 | int(state[1])


def _generate_chunk(args):
    """`count` accepted trees of chunk `chunk`: a list of `(source, value, length)`."""
    seed, chunk, count, min_length, max_length, max_depth, max_args, value_p = args
    rand = random.Random(_chunk_seed(seed, chunk)).random
    out = []
    while len(out) < count:
        try:
            text, value, length = _random_tree(rand, max_depth, max_args, value_p, max_length)
        except _TooLong:
            continue
        if min_length < length < max_length:
            out.append((text, value, length))
    return out


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm ships with tensorflow-datasets; optional here
        return None
    return tqdm(total=total, desc=desc, unit=" trees" if "tree" in desc else " it", file=sys.stderr)


def generate(
    n,
    seed=0,
    *,
    min_length=500,
    max_length=2000,
    max_depth=10,
    max_args=10,
    value_p=0.25,
    workers=1,
    chunk_size=250,
    progress=False,
):
    """Generates `n` unique random ListOps trees, deterministic for a seed.

    A tree is kept when `min_length < length < max_length` (tokens), as in
    LRA; exact duplicates are dropped. The result depends on `seed` and the
    tree parameters only, not on `workers`.

    Args:
        n: number of trees.
        seed: int seed.
        min_length, max_length: the accepted length window (exclusive).
        max_depth: nodes at this depth are digits (LRA: 10).
        max_args: operators take 2..max_args arguments (LRA: 10).
        value_p: a node above `max_depth` is an operator with probability
            `value_p` (LRA: 0.25).
        workers: processes (1 = this process).
        chunk_size: trees per independently seeded chunk.
        progress: show a progress bar (tqdm) on stderr.

    Returns:
        A list of `(source, label)`: the LRA `Source` string and its value.

    >>> trees = generate(3, seed=1, min_length=10, max_length=60)
    >>> all(evaluate(source) == label for source, label in trees)
    True
    """
    check_positive_int("n", n)
    check_positive_int("workers", workers)
    check_positive_int("max_depth", max_depth)
    if not (isinstance(max_args, int) and max_args >= 2):
        raise ValueError(f"`max_args` must be an integer >= 2, got {max_args!r}.")
    if not 0 <= min_length < max_length - 1:
        raise ValueError(
            f"need 0 <= min_length < max_length - 1, got min_length={min_length}, max_length={max_length}."
        )
    if not 0 < value_p < 1:
        raise ValueError(f"`value_p` must be in (0, 1), got {value_p!r}.")
    common = (min_length, max_length, max_depth, max_args, value_p)
    tasks = ((seed, chunk, chunk_size) + common for chunk in range(10**9))
    unique = {}
    bar = _progress(n, "ListOps trees", progress)
    pool = None
    try:
        if workers > 1:
            import multiprocessing

            # spawn, not fork: the parent may hold JAX / TF threads.
            pool = multiprocessing.get_context("spawn").Pool(workers)
            chunks = pool.imap(_generate_chunk, tasks)
        else:
            chunks = map(_generate_chunk, tasks)
        for chunk in chunks:
            before = len(unique)
            for text, value, _ in chunk:
                if len(unique) < n:
                    unique.setdefault(text, value)
            if bar is not None:
                bar.update(len(unique) - before)
            if len(unique) >= n:
                break
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
    return list(unique.items())


def write_dataset(
    out,
    n_train=96_000,
    n_val=2_000,
    n_test=2_000,
    seed=0,
    *,
    task="basic",
    progress=False,
    **generator_options,
):
    """Generates trees and writes `<task>_{train,val,test}.tsv` into `out` (LRA layout).

    The `n_train + n_val + n_test` unique trees are shuffled with `seed`, then
    split in that order. `generator_options` go to `generate` (e.g.
    `workers`, `min_length`, `max_length`).

    Returns:
        `{"train": path, "val": path, "test": path}`.

    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = write_dataset(folder.name, 4, 2, 2, min_length=10, max_length=60)
    >>> with open(paths["val"]) as f:
    ...     f.readline()
    'Source\\tTarget\\n'
    >>> folder.cleanup()
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        check_positive_int(name, value)
    total = n_train + n_val + n_test
    trees = generate(total, seed, progress=progress, **generator_options)
    order = np.random.default_rng(seed).permutation(total)
    os.makedirs(out, exist_ok=True)
    paths = {}
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, total)}
    for split, (lo, hi) in bounds.items():
        paths[split] = os.path.join(out, f"{task}_{split}.tsv")
        with open(paths[split], "w", encoding="ascii", newline="\n") as f:
            f.write("Source\tTarget\n")
            for i in order[lo:hi]:
                source, label = trees[i]
                f.write(f"{source}\t{label}\n")
    return paths


# --------------------------------------------------------------------------
# Loader


def read_tsv(path, append_eos=False):
    """Token ids and labels of one LRA ListOps TSV file.

    `append_eos` appends `<eos>` to the whole sequence; `load_listops`
    instead truncates first, then appends it (as S4).

    Returns:
        `(sequences, labels)`: a list of uint8 id arrays (ids as in `VOCAB`)
        and an int32 array of labels.
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
            generator's output).
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
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = write_dataset(folder.name, 4, 2, 2, min_length=10, max_length=60)
    >>> data = load_listops(folder.name, batch_size=2)
    >>> x, y = next(iter(data.train))
    >>> x.dtype.name, y.dtype.name, x.shape[0], data.vocab_size, data.num_classes
    ('int32', 'int32', 2, 18, 10)
    >>> folder.cleanup()
    """
    import tensorflow as tf

    from keras_ssm.data.batching import make_dataset, ragged

    data_dir = check_data_dir("listops", data_dir, EXPECTED_LAYOUT, WHERE)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_length", max_length)
    files = {s: os.path.join(data_dir, f"{task}_{s}.tsv") for s in ("train", "val", "test")}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise missing_data("listops", data_dir, EXPECTED_LAYOUT, WHERE + f"\nMissing: {missing}")

    datasets, sizes = {}, {}
    for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        sequences, labels = read_tsv(files[name])
        if append_eos:  # as S4: truncate first, so <eos> survives truncation
            sequences = [np.append(s[: max_length - 1], np.uint8(EOS_ID)) for s in sequences]
        else:
            sequences = [s[:max_length] for s in sequences]
        rows, lengths = ragged(sequences, np.uint8)
        labels_t = tf.constant(labels)

        def element(i, rows=rows, labels_t=labels_t):
            return tf.cast(rows[i], tf.int32), labels_t[i]

        datasets[split] = make_dataset(
            len(labels),
            element,
            batch_size=batch_size,
            lengths=lengths,
            max_length=max_length,
            shuffle=shuffle and split == "train",
            seed=seed,
            bucket=bucket,
            drop_remainder=drop_remainder,
        )
        sizes[split] = len(labels)
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


# --------------------------------------------------------------------------
# Command line


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_ssm.data.listops",
        description="Generate LRA ListOps (basic_{train,val,test}.tsv), deterministic for a seed.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-train", type=int, default=96_000)
    parser.add_argument("--n-val", type=int, default=2_000)
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: all cores); the output does not depend on it")
    parser.add_argument("--min-length", type=int, default=500, help="keep length > this (LRA: 500)")
    parser.add_argument("--max-length", type=int, default=2000, help="keep length < this (LRA: 2000)")
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--max-args", type=int, default=10)
    parser.add_argument("--value-p", type=float, default=0.25,
                        help="probability that a node above max depth is an operator")
    parser.add_argument("--task", default="basic", help="file prefix (LRA: basic)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_dataset(
        args.out, args.n_train, args.n_val, args.n_test, args.seed,
        task=args.task, progress=not args.quiet, workers=args.workers,
        min_length=args.min_length, max_length=args.max_length,
        max_depth=args.max_depth, max_args=args.max_args, value_p=args.value_p,
    )
    total = args.n_train + args.n_val + args.n_test
    print(f"wrote {total} trees in {time.perf_counter() - start:.1f} s: "
          + ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
