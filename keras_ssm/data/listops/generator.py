"""ListOps: the tree generator (LRA settings).

The generator (`python -m keras_ssm.data.listops --out DIR`) follows the LRA
settings: max depth 10, 2-10 arguments per operator, a node below depth 10
is an operator with probability 0.25, trees kept when 500 < length < 2000
tokens (length counts operators, digits and `]`), 96,000 / 2,000 / 2,000
unique trees. Generation is split into chunks with their own seeds (from one
`numpy.random.SeedSequence`), so the output depends on `--seed` only, not on
the number of worker processes.
"""

import os
import random
import sys

import numpy as np

from keras_ssm.data.base import check_positive_int
from keras_ssm.data.listops.tokens import OPERATORS, _apply, evaluate  # noqa: F401 (evaluate: the doctest)


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
