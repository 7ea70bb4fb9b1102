"""Writes a seeded, class-balanced subset of a test split for the zoo's main job.

    .venv/bin/python scripts/bundle_test_subset.py --data ../shared/data/imdb --out examples/data/imdb_test --per-class 100
    .venv/bin/python scripts/bundle_test_subset.py --data ../shared/data/cifar10_jpeg --out examples/data/cifar10_test --per-class 20
    .venv/bin/python scripts/bundle_test_subset.py --data runs/data/listops --out examples/data/listops_test --per-class 20
    .venv/bin/python scripts/bundle_test_subset.py --data runs/data/pf32 --out examples/data/pathfinder32_test --per-class 100

`--per-class` examples of each class of the test split (drawn class by class
with `numpy.random.default_rng(0)`, kept in the source's order). From
`DATA/test.npz`, `OUT/test.npz` with every key of the source: its records
stored end to end (`text_bytes` or `jpeg_bytes`, re-offset) and its
per-example arrays. From ListOps' `DATA/basic_test.tsv`, `OUT/basic_test.tsv`:
the header and the chosen lines, unchanged. From a Pathfinder-32 folder (the
LRA layout, hard difficulty; its test split as the loader draws it),
`OUT/curv_contour_length_14/`: the chosen PNGs, byte for byte, as
`imgs/0/sample_<j>.png` and their metadata lines, re-numbered, in
`metadata/test.npy`. The task's loader reads such a folder as a test split
only.
"""

import argparse
import os
import shutil

import numpy as np

from keras_ssm.data import pathfinder

RECORD_KEYS = ("text_bytes", "jpeg_bytes")  # records stored end to end with `offsets`


def choose(labels, per_class, seed=0):
    """Sorted indices of `per_class` examples of each label."""
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                                   for c in np.unique(labels)]))


def subset(data, per_class, seed=0):
    """The arrays of `data` (an npz's dict) for `per_class` examples of each label."""
    labels = data["labels"]
    chosen = choose(labels, per_class, seed)
    (key,) = [k for k in RECORD_KEYS if k in data]
    records = [data[key][data["offsets"][i]:data["offsets"][i + 1]] for i in chosen]
    out = {key: np.concatenate(records), "offsets": np.cumsum([0] + [len(r) for r in records]).astype(np.int64)}
    for name, values in data.items():
        if name not in out and len(values) == len(labels):
            out[name] = values[chosen]
        elif name not in out:
            out[name] = values  # e.g. class_names
    return out


def tsv_subset(path, per_class, seed=0):
    """The header and the chosen lines of a ListOps TSV file (`Source<TAB>Target`)."""
    with open(path, encoding="utf-8") as f:
        header, *lines = [line for line in f if line.strip()]
    labels = np.array([int(line.rstrip("\r\n").rpartition("\t")[2]) for line in lines])
    return [header] + [lines[i] for i in choose(labels, per_class, seed)]


def pathfinder_subset(data_dir, out, per_class, seed=0):
    """Copies `per_class` test images of each label of a Pathfinder-32 set into a test-only folder."""
    folder = pathfinder.find_folder(data_dir, 32, "hard")
    lines = []
    for name in sorted(os.listdir(os.path.join(folder, "metadata")), key=lambda f: int(f[:-4])):
        with open(os.path.join(folder, "metadata", name)) as f:
            lines += [line.split() for line in f if line.strip()]
    paths, labels = pathfinder.read_metadata(folder)
    if len(paths) != len(lines):
        raise SystemExit(f"{folder}: {len(lines) - len(paths)} listed images are missing or empty")
    test = pathfinder.split_indices(len(paths))["test"]
    target = os.path.join(out, os.path.basename(folder))
    os.makedirs(os.path.join(target, "imgs", "0"), exist_ok=True)
    os.makedirs(os.path.join(target, "metadata"), exist_ok=True)
    written = []
    for j, i in enumerate(test[choose(labels[test], per_class, seed)]):
        shutil.copyfile(paths[i], os.path.join(target, "imgs", "0", f"sample_{j}.png"))
        written.append(" ".join(["imgs/0", f"sample_{j}.png", str(j), *lines[i][3:]]))
    with open(os.path.join(target, "metadata", pathfinder.TEST_ONLY), "w") as f:
        f.write("\n".join(written) + "\n")
    return len(written)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the folder with the task's test.npz (or ListOps' basic_test.tsv)")
    parser.add_argument("--out", required=True, help="the folder to write the subset into")
    parser.add_argument("--per-class", type=int, required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if pathfinder.find_folder(args.data, 32, "hard"):
        print(f"{pathfinder_subset(args.data, args.out, args.per_class)} images -> {args.out}")
        return
    tsv = os.path.join(args.data, "basic_test.tsv")
    if os.path.isfile(tsv):
        lines = tsv_subset(tsv, args.per_class)
        with open(os.path.join(args.out, "basic_test.tsv"), "w", encoding="utf-8", newline="") as f:
            f.writelines(lines)
        print(f"{len(lines) - 1} trees -> {args.out}/basic_test.tsv")
        return
    with np.load(os.path.join(args.data, "test.npz")) as z:
        data = {k: z[k] for k in z.files}
    out = subset(data, args.per_class)
    np.savez_compressed(os.path.join(args.out, "test.npz"), **out)
    print(f"{len(out['labels'])} examples ({len(out['offsets']) - 1} records, "
          f"{out['offsets'][-1]:,} bytes) -> {args.out}/test.npz")


if __name__ == "__main__":
    main()
