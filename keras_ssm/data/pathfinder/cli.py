"""`python -m keras_ssm.data.pathfinder`: generate Pathfinder / Path-X in the LRA layout."""

import argparse
import os
import time

from keras_ssm.data.pathfinder.generator import DIFFICULTIES, MODES, SETTINGS, write_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_ssm.data.pathfinder",
        description="Generate Pathfinder / Path-X images in the LRA folder layout, deterministic for a seed.",
    )
    parser.add_argument("--out", required=True, help="root folder (pathfinder<size>/<difficulty>/ is created)")
    parser.add_argument("--size", type=int, default=32, choices=sorted(SETTINGS),
                        help="image side: 32 (Pathfinder), 64, 128 (Path-X), 256")
    parser.add_argument("--n", type=int, default=200_000, help="number of images (LRA: 200000)")
    parser.add_argument("--difficulty", default="hard", choices=list(DIFFICULTIES),
                        help="easy (6 dashes), intermediate (9), hard (14; LRA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="parameters", choices=MODES,
                        help="parameters: as the generator's parameters say; release: as the published generator "
                             "behind the LRA data draws (about 1.2 of 5 distractors at 32 px; compare with papers)")
    parser.add_argument("--batch-size", type=int, default=1000, help="images per imgs/<batch> folder")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: all cores); the output does not depend on it")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    folder = write_dataset(args.out, args.size, args.n, args.difficulty, args.seed,
                           batch_size=args.batch_size, workers=args.workers, progress=not args.quiet,
                           mode=args.mode)
    print(f"wrote {args.n} images to {folder} in {time.perf_counter() - start:.1f} s")
    return 0

