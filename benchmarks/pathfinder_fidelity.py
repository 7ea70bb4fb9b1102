"""Pathfinder-32 as keras_ssm draws it, against the published generator behind the LRA data.

`python -m benchmarks pathfinder_fidelity [--n 600]` draws `n` hard-level 32 px
images in each mode of `keras_ssm.data.pathfinder.generate_image` and compares
the distractor curves placed per image, the ink (share of non-zero pixels),
the two endpoint markers (brightness, size, sub-pixel centre), the pixel
histogram of the 8-bit image and the orientations a curve can start with,
with the published generator's figures in
`benchmarks/results/pathfinder_reference.json` (written by `python -m
benchmarks pathfinder_reference`, which runs drewlinsley/pathfinder at the
commit it records). Both scripts measure with `benchmarks/pathfinder_measures.py`;
here the marker points are the generator's own (`geometry["markers"]`) and
each marker's layer is recorded by wrapping the generator's marker drawing.
Writes `benchmarks/results/pathfinder_fidelity.{md,json,png}`.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from benchmarks import pathfinder_measures as measures
from keras_ssm.data.pathfinder import generator

RESULTS = Path(__file__).parent / "results"
REFERENCE = RESULTS / "pathfinder_reference.json"
PUBLISHED = "published generator"


def measure(mode, n, seed=0):
    """Distractors placed, ink, markers and pixel histograms of `n` hard 32 px images of one mode."""
    placed, ink, markers, histograms, total = [], [], [], [], np.zeros(256, np.int64)
    drawn = []
    draw = generator._Image.markers

    def recording(canvas, points):  # each marker's own layer, and the peak the image is scaled by
        layer = draw(canvas, points)
        peak = max(float(canvas.image.max()), float(layer.max()))
        drawn.append(([draw(canvas, [point]) for point in points], peak))
        return layer

    generator._Image.markers = recording
    start = time.perf_counter()
    try:
        for i in range(n):
            image, _, geometry = generator.generate_image(32, "hard", seed=seed + i, mode=mode)
            layers, peak = drawn.pop()
            placed.append(len(geometry["distractors"]))
            ink.append(float((image > 0).mean()))
            markers.append([dict(measures.marker_measures(measures.to_eight_bit_units(layer, 0.0, peak), point, image),
                                 point=[int(v) for v in point]) for layer, point in zip(layers, geometry["markers"])])
            histograms.append(measures.histogram(image))
            total += np.bincount(image.ravel(), minlength=256)
    finally:
        generator._Image.markers = draw
    return {"distractors_placed": placed, "ink": ink, "markers": markers, "histograms": histograms,
            "histogram_256": total.tolist(), "seconds_per_image": (time.perf_counter() - start) / n}


def _per_image(markers, key, inside_only):
    """Each image's mean of `key` over its two markers (only those inside the image for centre measures)."""
    values = []
    for pair in markers:
        chosen = [m[key] for m in pair if m["inside"] or not inside_only]
        values.append(float(np.mean(chosen)) if chosen else float("nan"))
    return values


MARKER_ROWS = (  # key, label, centre measure (inside markers only)
    ("peak", "peak", False), ("mean", "mean (px >= peak / 2)", False), ("size", "size (px >= peak / 2)", False),
    ("mean_in_image", "image mean there", False), ("offset_row", "centre - point, row", True),
    ("offset_col", "centre - point, col", True), ("fraction_row", "centre fraction, row", True),
    ("fraction_col", "centre fraction, col", True),
)


def summary(run, requested):
    placed, ink = np.asarray(run["distractors_placed"]), np.asarray(run["ink"])
    histograms = np.asarray(run["histograms"], np.float64)
    shares = histograms / histograms.sum(axis=1, keepdims=True)
    return {
        "n": int(len(placed)),
        "distractors_mean": float(placed.mean()),
        "distractors_sem": float(placed.std(ddof=1) / math.sqrt(len(placed))),
        "distractors_histogram": np.bincount(placed, minlength=requested + 1).tolist(),
        "ink_mean": float(ink.mean()),
        "ink_quantiles": [float(q) for q in np.quantile(ink, [0.1, 0.5, 0.9])],
        "ms_per_image": 1000 * run["seconds_per_image"],
        # (mean, 95 % half-width) over images
        "markers": {key: measures.interval(_per_image(run["markers"], key, inside)) for key, _, inside in MARKER_ROWS},
        "marker_size_counts": np.bincount([m["size"] for pair in run["markers"] for m in pair]).tolist(),
        "histogram_shares": [measures.interval(shares[:, k]) for k in range(shares.shape[1])],
        "share_255": measures.interval(shares[:, -1]),
        "images_with_marker_at_255": float(np.mean([max(m["peak"] for m in pair) >= 254.5
                                                    for pair in run["markers"]])),
    }


def stratified(runs, counts=(0, 1, 2, 3)):
    """Per number of distractors placed: images, ink, share of 0 pixels and marker peak (mean, 95 % half-width)."""
    table = {}
    for name, run in runs.items():
        placed = np.asarray(run["distractors_placed"])
        histograms = np.asarray(run["histograms"], np.float64)
        zero = histograms[:, 0] / histograms.sum(axis=1)
        ink, peak = np.asarray(run["ink"]), np.asarray(_per_image(run["markers"], "peak", False))
        table[name] = {k: {"n": int((placed == k).sum()), "ink": measures.interval(ink[placed == k]),
                           "zero": measures.interval(zero[placed == k]),
                           "marker_peak": measures.interval(peak[placed == k])} for k in counts}
    return table


def _pm(value, digits=2, scale=1.0):
    mean, half = value
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"


def _within(a, b):
    """Whether two (mean, half-width) intervals' difference is within its own ~95 % half-width."""
    return abs(a[0] - b[0]) <= math.hypot(a[1], b[1])


def report(rows, requested, usable, reference_usable, reference, strata):
    names = list(rows)
    lines = [
        "# Pathfinder-32 (hard): keras_ssm's generator against the published one",
        "",
        "`python -m benchmarks pathfinder_fidelity`. Reference: drewlinsley/pathfinder at commit "
        f"`{reference.get('reference_commit', 'not recorded')}`, run with LRA's settings by",
        f"`python -m benchmarks pathfinder_reference` ({reference.get('resize_save', 'resize / save not recorded')}).",
        "Ink: share of non-zero pixels of the 8-bit image. ± : 95 % interval of the mean over images.",
        "",
        f"| generator | images | distractors placed (of {requested}) | histogram 0..{requested} | ink mean "
        "| ink p10 / p50 / p90 | ms / image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q = " / ".join(f"{100 * v:.1f}" for v in r["ink_quantiles"])
        lines.append(f"| {name} | {r['n']} | {r['distractors_mean']:.2f} ± {1.96 * r['distractors_sem']:.2f} | "
                     f"{' '.join(map(str, r['distractors_histogram']))} | {100 * r['ink_mean']:.1f} % | {q} % | "
                     f"{r['ms_per_image']:.0f} |")
    lines += [
        "",
        "## Endpoint markers",
        "",
        "Each marker's own layer in the image's 8-bit units, at the point the generator centred it on",
        "(`benchmarks/pathfinder_measures.py`); per image the mean of its two markers; the centre is the",
        f"intensity-weighted centroid within {measures.WINDOW} px (markers whose window lies inside the image).",
        "`=` : release within the interval of its difference from the published generator.",
        "",
        "| marker | " + " | ".join(names) + " | release = published? |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for key, label, _ in MARKER_ROWS:
        cells = [_pm(rows[name]["markers"][key], 1 if key in ("peak", "mean", "mean_in_image") else 2) for name in names]
        same = _within(rows["keras_ssm release"]["markers"][key], rows[PUBLISHED]["markers"][key])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'=' if same else 'differs'} |")
    cells = [" ".join(f"{s}:{c}" for s, c in enumerate(rows[name]["marker_size_counts"]) if c) for name in names]
    lines.append("| size counts (px: markers) | " + " | ".join(cells) + " | |")
    cells = [f"{100 * rows[name]['images_with_marker_at_255']:.1f} %" for name in names]
    lines.append("| images whose brightest pixel is a marker's | " + " | ".join(cells) + " | |")
    lines += [
        "",
        "## Pixel histogram of the 8-bit image",
        "",
        "Share of an image's pixels in each bin, mean over images (%).",
        "",
        "| pixel value | " + " | ".join(names) + " | release = published? |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for k, label in enumerate(measures.HISTOGRAM_LABELS):
        cells = [_pm(rows[name]["histogram_shares"][k], 2, 100) for name in names]
        same = _within(rows["keras_ssm release"]["histogram_shares"][k], rows[PUBLISHED]["histogram_shares"][k])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'=' if same else 'differs'} |")
    pair = (PUBLISHED, "keras_ssm release")
    lines += [
        "",
        "Per number of distractors placed (published / release): the distractors are drawn at contrast 2.0, brighter",
        "than the targets (2.0 x 0.75) and than the markers, so with none placed a marker is always the image's brightest pixel;",
        "images with the same number of distractors show how much of the differences above is the distractor count.",
        "",
        "| distractors placed | images | ink (%) | share of 0 pixels (%) | marker peak |",
        "|---|---|---|---|---|",
    ]
    for k in next(iter(strata.values())):
        a, b = (strata[name][k] for name in pair)
        lines.append(f"| {k} | {a['n']} / {b['n']} | {_pm(a['ink'], 1, 100)} / {_pm(b['ink'], 1, 100)} | "
                     f"{_pm(a['zero'], 1, 100)} / {_pm(b['zero'], 1, 100)} | "
                     f"{_pm(a['marker_peak'], 1)} / {_pm(b['marker_peak'], 1)} |")
    lines += [
        "",
        f"Orientations that can start a curve (the published generator's seed search, 32 px): {len(reference_usable)} "
        f"of 360 ({min(reference_usable)}..{max(reference_usable)} degrees); keras_ssm `release`: {len(usable)} "
        f"({'the same set' if usable == reference_usable else 'a different set'}); `parameters`: all 360.",
        "",
        "`release` draws its markers as the published generator does (a disk of radius 1.5 px on the 2x grid centred",
        "on the point's top-left sub-pixel, so its centre lies about a quarter pixel up and left of the point; 8 px at",
        "half peak); `parameters` keeps its disk centred on the pixel (a quarter pixel down and right, 10 px).",
        "",
    ]
    return "\n".join(lines)


def plot(runs, requested, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    bins = np.linspace(0.15, 0.65, 41)
    for name, run in runs.items():
        axes[0].hist(run["ink"], bins=bins, histtype="step", density=True, label=name)
        counts = np.bincount(run["distractors_placed"], minlength=requested + 1)
        axes[1].plot(np.arange(len(counts)), counts / counts.sum(), marker="o", label=name)
        total = np.asarray(run["histogram_256"], np.float64)
        groups = np.add.reduceat(np.r_[0.0, total[1:]], np.arange(0, 256, 16))  # 1-15, 16-31, .., 240-255
        axes[2].step(np.arange(8, 256, 16), groups / total.sum(), where="mid", marker=".", label=name)
    axes[0].set(xlabel="ink (share of non-zero pixels)", ylabel="density", title="ink per image")
    axes[1].set(xlabel="distractor curves placed", ylabel="share of images", title="distractors per image")
    axes[2].set(xlabel="pixel value (bins of 16; 0 left out)", ylabel="share of pixels", yscale="log",
                title="pixel histogram")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=600, help="images per mode")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the results")
    args = parser.parse_args(argv)
    reference = json.loads(REFERENCE.read_text())
    if "markers" not in reference:
        parser.error(f"{REFERENCE} has no marker measures; rerun `python -m benchmarks pathfinder_reference`.")
    requested = reference["distractors_requested"]
    runs = {PUBLISHED: reference}
    runs.update({f"keras_ssm {mode}": measure(mode, args.n) for mode in ("release", "parameters")})
    rows = {name: summary(run, requested) for name, run in runs.items()}
    usable = generator.seed_orientations(32)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    strata = stratified(runs)
    (out / "pathfinder_fidelity.md").write_text(
        report(rows, requested, usable, reference["usable_seed_orientations"], reference, strata))
    (out / "pathfinder_fidelity.json").write_text(json.dumps(
        {"reference_commit": reference.get("reference_commit"), "rows": rows, "by_distractors": strata,
         "usable_orientations": usable,
         "reference_usable_orientations": reference["usable_seed_orientations"],
         "histogram_edges": list(measures.HISTOGRAM_EDGES),
         "histogram_256": {name: run["histogram_256"] for name, run in runs.items()}}, indent=1))
    plot(runs, requested, out / "pathfinder_fidelity.png")
    print((out / "pathfinder_fidelity.md").read_text())


if __name__ == "__main__":
    main()
