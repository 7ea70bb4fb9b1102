"""`python -m keras_ssm.data.listops`: generate LRA ListOps as its TSV files."""

import argparse
import os
import time

from keras_ssm.data.listops.generator import write_dataset


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
