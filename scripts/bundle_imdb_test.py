"""Writes the IMDB reviews bundled for the zoo's main job.

    .venv/bin/python scripts/bundle_imdb_test.py --data ../shared/data/imdb

`examples/data/imdb_test/test.npz`: 100 negative and 100 positive reviews of
the canonical test split (a seeded draw, seed 0), with every key of the
source's npz, so `keras_ssm.data.load("text", "examples/data/imdb_test")`
reads it (test split only).
"""

import argparse
import os

import numpy as np

OUT = os.path.join("examples", "data", "imdb_test")
PER_CLASS = 100


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the folder with IMDB's test.npz")
    args = parser.parse_args()
    with np.load(os.path.join(args.data, "test.npz")) as z:
        data = {k: z[k] for k in z.files}
    rng = np.random.default_rng(0)
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(data["labels"] == c), PER_CLASS, replace=False)
                                     for c in (0, 1)]))
    reviews = [data["text_bytes"][data["offsets"][i]:data["offsets"][i + 1]] for i in chosen]
    os.makedirs(OUT, exist_ok=True)
    np.savez_compressed(os.path.join(OUT, "test.npz"), text_bytes=np.concatenate(reviews),
                        offsets=np.cumsum([0] + [len(r) for r in reviews]).astype(np.int64),
                        labels=data["labels"][chosen], rating=data["rating"][chosen],
                        review_id=data["review_id"][chosen])
    print(f"{len(chosen)} reviews ({sum(map(len, reviews)):,} bytes) -> {OUT}/test.npz")


if __name__ == "__main__":
    main()
