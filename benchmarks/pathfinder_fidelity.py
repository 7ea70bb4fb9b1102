"""Pathfinder-32 as keras_ssm draws it, against the published generator behind the LRA data.

`python -m benchmarks pathfinder_fidelity [--n 300]` draws `n` hard-level 32 px
images in each mode of `keras_ssm.data.pathfinder.generate_image` and compares
the distractor curves placed per image, the ink (share of non-zero pixels) and
the orientations a curve can start with, with the published generator's
figures in `benchmarks/results/pathfinder_reference.json` (written by
`python -m benchmarks pathfinder_reference`, which runs drewlinsley/pathfinder).
Writes `benchmarks/results/pathfinder_fidelity.{md,json,png}`.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from keras_ssm.data.pathfinder import generator

RESULTS = Path(__file__).parent / "results"
REFERENCE = RESULTS / "pathfinder_reference.json"


def measure(mode, n, seed=0):
    """Distractors placed and ink of `n` hard 32 px images of one mode."""
    placed, ink = [], []
    start = time.perf_counter()
    for i in range(n):
        image, _, geometry = generator.generate_image(32, "hard", seed=seed + i, mode=mode)
        placed.append(len(geometry["distractors"]))
        ink.append(float((image > 0).mean()))
    return {"distractors_placed": placed, "ink": ink, "seconds_per_image": (time.perf_counter() - start) / n}


def summary(run, requested):
    placed, ink = np.asarray(run["distractors_placed"]), np.asarray(run["ink"])
    return {
        "n": int(len(placed)),
        "distractors_mean": float(placed.mean()),
        "distractors_sem": float(placed.std(ddof=1) / math.sqrt(len(placed))),
        "distractors_histogram": np.bincount(placed, minlength=requested + 1).tolist(),
        "ink_mean": float(ink.mean()),
        "ink_quantiles": [float(q) for q in np.quantile(ink, [0.1, 0.5, 0.9])],
        "ms_per_image": 1000 * run["seconds_per_image"],
    }


def report(rows, requested, usable, reference_usable):
    lines = [
        "# Pathfinder-32 (hard): keras_ssm's generator against the published one",
        "",
        "`python -m benchmarks pathfinder_fidelity`. Reference: drewlinsley/pathfinder run with LRA's settings by",
        "`python -m benchmarks pathfinder_reference`. Ink: share of non-zero pixels of the 8-bit image.",
        "",
        f"| generator | images | distractors placed (of {requested}) | histogram 0..{requested} | ink mean "
        "| ink p10 / p50 / p90 | ms / image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q = " / ".join(f"{100 * v:.1f}" for v in r["ink_quantiles"])
        lines.append(f"| {name} | {r['n']} | {r['distractors_mean']:.2f} ± {r['distractors_sem']:.2f} | "
                     f"{' '.join(map(str, r['distractors_histogram']))} | {100 * r['ink_mean']:.1f} % | {q} % | "
                     f"{r['ms_per_image']:.0f} |")
    lines += [
        "",
        f"Orientations that can start a curve (the published generator's seed search, 32 px): {len(reference_usable)} "
        f"of 360 ({min(reference_usable)}..{max(reference_usable)} degrees); keras_ssm `release`: {len(usable)} "
        f"({'the same set' if usable == reference_usable else 'a different set'}); `parameters`: all 360.",
        "",
    ]
    return "\n".join(lines)


def plot(runs, requested, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    bins = np.linspace(0.15, 0.65, 41)
    for name, run in runs.items():
        axes[0].hist(run["ink"], bins=bins, histtype="step", density=True, label=name)
        counts = np.bincount(run["distractors_placed"], minlength=requested + 1)
        axes[1].plot(np.arange(len(counts)), counts / counts.sum(), marker="o", label=name)
    axes[0].set(xlabel="ink (share of non-zero pixels)", ylabel="density", title="ink per image")
    axes[1].set(xlabel="distractor curves placed", ylabel="share of images", title="distractors per image")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="images per mode")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the results")
    args = parser.parse_args(argv)
    reference = json.loads(REFERENCE.read_text())
    requested = reference["distractors_requested"]
    runs = {"published generator": reference}
    runs.update({f"keras_ssm {mode}": measure(mode, args.n) for mode in ("release", "parameters")})
    rows = {name: summary(run, requested) for name, run in runs.items()}
    usable = generator.seed_orientations(32)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pathfinder_fidelity.md").write_text(report(rows, requested, usable, reference["usable_seed_orientations"]))
    (out / "pathfinder_fidelity.json").write_text(json.dumps(
        {"rows": rows, "usable_orientations": usable,
         "reference_usable_orientations": reference["usable_seed_orientations"]}, indent=1))
    plot(runs, requested, out / "pathfinder_fidelity.png")
    print((out / "pathfinder_fidelity.md").read_text())


if __name__ == "__main__":
    main()
