"""Runs the published Pathfinder generator and measures what it draws.

The LRA Pathfinder data was made with drewlinsley/pathfinder (`snakes2.py`,
MIT). This script imports a checkout of it (nothing of it is copied here),
runs it with LRA's Pathfinder-32 settings and records, per image, the number
of distractor curves actually placed, the ink (share of non-zero pixels of
the saved 8-bit image), the pixel histogram and the two endpoint markers
(brightness, size, sub-pixel centre; `benchmarks/pathfinder_measures.py`
defines every measure, at the points the generator centred its markers on,
recorded by wrapping its `draw_circle`); and, per seed orientation, whether
its seed search can find any free coordinate at all.
`benchmarks/pathfinder_fidelity.py` compares the result with keras_ssm's
generator. The JSON records the generator's commit (`reference_commit`,
from git or from the git blob ids of snakes.py / snakes2.py).

Use the 2019 commit ab9c130 (the one the LRA data was made with; export it
with `git archive ab9c130`). It is Python 2 code calling `scipy.misc.imresize`
/ `imsave`, which byte-scale a float array (its min..max to 0..255) before
resizing / saving, and `np.float` / `np.round_`: all four are provided here
with that behaviour (modern SciPy / NumPy lack them). The 2026 Python 3 port
(7b53886) resizes float arrays in mode F without byte-scaling (its markers
come out about 1/255 as bright); run on it, its `_imresize` / `_imsave` are
replaced by the same byte-scaling helpers.

Needs numpy, scipy, Pillow, matplotlib and opencv-python(-headless), in an
environment of its own:

    git --git-dir=PATHFINDER_GIT archive ab9c130 | tar -x -C /tmp/pathfinder_ab9c130
    python -m benchmarks pathfinder_reference --reference /tmp/pathfinder_ab9c130 \
        --n 600 --out benchmarks/results/pathfinder_reference.json
"""

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

try:  # `python -m benchmarks pathfinder_reference`
    from benchmarks import pathfinder_measures as measures
except ImportError:  # `python benchmarks/pathfinder_reference.py`
    import pathfinder_measures as measures

# LRA's Pathfinder-32 settings (lra_benchmarks/data/pathfinder.py docstrings).
SETTINGS_32 = dict(window_size=[32, 32], padding=1, antialias_scale=2, paddle_margin_list=[1],
                   paddle_length=2, paddle_thickness=0.5, marker_radius=1.5, seed_distance=7,
                   continuity=1.0, snake_contrast_list=[2.0], paddle_contrast_list=[0.75],
                   distractor_budget=20)
CONTOUR_LENGTHS = {"easy": 6, "intermediate": 9, "hard": 14}
# git blob ids of (snakes.py, snakes2.py) -> the drewlinsley/pathfinder commit they come from.
KNOWN_BLOBS = {
    ("35cce9ec4ecb4ad6cb4cd0537992aa12d95c0f50", "b945e5d54a59e35a4722e40a9120c8ab4cfe42a9"):
        "ab9c130cdf0f27c5bc4117801915521559a3cd2f",
    ("d41264d1f9d0c91d203688d95fbd87d493fa6bef", "77d950b317aacffe51af93869e7ac22836d45eef"):
        "7b538865667dfe16f949ed3b7c8dc6a65ca87099 (or f12b747, the same files)",
}


def git_blob_id(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def reference_commit(folder):
    """(commit, blob ids) of the checkout: from git when it is a clone, else from its files' blob ids."""
    blobs = {name: git_blob_id(os.path.join(folder, name)) for name in ("snakes.py", "snakes2.py")}
    commit = None
    if os.path.exists(os.path.join(folder, ".git")):
        try:
            commit = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True,
                                    check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = None
    if commit is None:
        commit = KNOWN_BLOBS.get((blobs["snakes.py"], blobs["snakes2.py"]), "unknown (files differ from ab9c130 and 7b53886)")
    return commit, blobs


def bytescale(array):
    """`scipy.misc.bytescale`: the array's min..max to 0..255, rounded."""
    array = np.asarray(array, np.float64)
    low, high = array.min(), array.max()
    scale = 255.0 / (high - low) if high > low else 1.0
    return (np.clip((array - low) * scale, 0, 255) + 0.5).astype(np.uint8)


def old_imresize(array, size, interp="lanczos"):
    """`scipy.misc.imresize`: byte-scale (uint8 input kept), resize in mode L, uint8 out."""
    from PIL import Image

    array = np.asarray(array)
    data = array if array.dtype == np.uint8 else bytescale(array)
    resample = {"lanczos": Image.LANCZOS, "nearest": Image.NEAREST}.get(interp, Image.BILINEAR)
    return np.asarray(Image.fromarray(data, "L").resize((size[1], size[0]), resample))


def seed_orientations(snakes, length, thickness, margin, aa_scale, size):
    """Integer-degree orientations whose seed search finds any free coordinate in an empty image."""
    struct_shape = ((length + margin) * 2 + 1,) * 2
    struct_head = [length + margin + 1] * 2
    large = snakes.generate_dilation_struct(margin * aa_scale)
    mask = np.zeros((size, size))
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 1
    usable = []
    for degrees in range(-180, 180):
        _, struct = snakes.draw_line_n_mask(struct_shape, struct_head, degrees * np.pi / 180, length,
                                            thickness, margin, large, aa_scale)
        dilated = snakes.binary_dilate_custom(mask, struct)
        if snakes.find_available_coordinates(np.ceil(dilated - 0.3), margin=0)[1] > 0:
            usable.append(degrees)
    return usable


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="a checkout of drewlinsley/pathfinder")
    parser.add_argument("--n", type=int, default=300, help="images to generate")
    parser.add_argument("--difficulty", default="hard", choices=sorted(CONTOUR_LENGTHS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.reference, "snakes2.py")):
        parser.error(f"--reference: no snakes2.py in {args.reference!r}; pass a checkout of drewlinsley/pathfinder.")
    commit, blobs = reference_commit(args.reference)
    sys.path.insert(0, os.path.abspath(args.reference))
    # What the Python 2 original called and modern NumPy / SciPy lack (used only where present).
    for name, value in (("float", float), ("round_", np.round)):
        if name not in np.__dict__:
            setattr(np, name, value)
    import scipy

    misc = types.ModuleType("scipy.misc")
    scipy.misc = sys.modules["scipy.misc"] = misc
    misc.imresize, misc.bytescale = old_imresize, bytescale
    import snakes
    import snakes2

    ported = hasattr(snakes2, "_imresize")
    if ported:  # the 2026 port: its Pillow helpers replaced by the byte-scaling ones
        snakes._imresize = snakes2._imresize = old_imresize
    images, counts, placed, circles, markers, histograms = [], [], [0], [], [], []
    make_snake, draw_circle = snakes.make_snake, snakes2.draw_circle

    def counting_make_snake(*a, **k):
        result = make_snake(*a, **k)
        placed[0] += bool(result[2])
        return result

    def recording_draw_circle(window_size, coordinate, radius, aa_scale):
        circle = draw_circle(window_size, coordinate, radius, aa_scale)
        circles.append(([int(v) for v in coordinate], np.asarray(circle, np.float64) / 255.0))
        return circle

    def keeping(path, array):  # instead of writing a PNG
        image = bytescale(array)
        images.append(image)
        counts.append(placed[0])
        placed[0] = 0
        low, high = float(np.min(array)), float(np.max(array))
        # from_wrapper draws the origin marker, then the terminal one, then saves.
        markers.append([dict(measures.marker_measures(measures.to_eight_bit_units(layer, low, high), point, image),
                             point=point) for point, layer in circles[-2:]])
        circles.clear()
        histograms.append(measures.histogram(image))

    snakes.make_snake, snakes2.draw_circle = counting_make_snake, recording_draw_circle
    if ported:
        snakes2._imsave = keeping
    else:
        misc.imsave = keeping

    s = SETTINGS_32
    contour_length = CONTOUR_LENGTHS[args.difficulty]
    distractor_length = contour_length // 3
    run = argparse.Namespace(
        batch_id=0, n_images=args.n, LABEL=1, use_single_paddles=False, segmentation_task=False,
        segmentation_task_double_circle=False, max_target_contour_retrial=4, max_distractor_contour_retrial=4,
        max_paddle_retrial=2, pause_display=False, save_images=True, save_metadata=False,
        contour_length=contour_length, distractor_length=distractor_length,
        num_distractor_snakes=s["distractor_budget"] // distractor_length,
        **{k: v for k, v in s.items() if k != "distractor_budget"})
    np.random.seed(args.seed)
    random.seed(args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        run.contour_path = folder
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # it prints a line per image
        try:
            snakes2.from_wrapper(run)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    seconds = time.perf_counter() - start
    usable = seed_orientations(snakes, s["paddle_length"], s["paddle_thickness"], s["paddle_margin_list"][0],
                               s["antialias_scale"], s["window_size"][0])
    ink = [float((image > 0).mean()) for image in images]
    result = {
        "generator": "drewlinsley/pathfinder snakes2.from_wrapper, LRA Pathfinder-32 settings",
        "reference_commit": commit,
        "reference_blobs": blobs,
        "resize_save": ("the port's _imresize / _imsave replaced by scipy.misc's byte-scaling behaviour" if ported
                        else "scipy.misc.imresize / imsave provided with their byte-scaling behaviour"),
        "difficulty": args.difficulty,
        "n": len(images),
        "seed": args.seed,
        "distractors_requested": run.num_distractor_snakes,
        "distractors_placed": counts,
        "ink": ink,
        "usable_seed_orientations": usable,
        "markers": markers,
        "histogram_edges": list(measures.HISTOGRAM_EDGES),
        "histograms": histograms,
        "histogram_256": np.bincount(np.concatenate([i.ravel() for i in images]), minlength=256).tolist(),
        "seconds_per_image": seconds / max(len(images), 1),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(f"{len(images)} images, {seconds / len(images) * 1000:.0f} ms each; distractors placed "
          f"{np.mean(counts):.2f} of {run.num_distractor_snakes}; ink {np.mean(ink) * 100:.1f} %; "
          f"usable seed orientations {len(usable)} of 360; marker peak "
          f"{np.mean([m['peak'] for pair in markers for m in pair]):.1f}; commit {commit} -> {args.out}")


if __name__ == "__main__":
    main()
