"""Runs the published Pathfinder generator and measures what it draws.

The LRA Pathfinder data was made with drewlinsley/pathfinder (`snakes2.py`,
MIT). This script imports a checkout of it (nothing of it is copied here),
runs it with LRA's Pathfinder-32 settings and records, per image, the number
of distractor curves actually placed and the ink (share of non-zero pixels of
the saved 8-bit image); and, per seed orientation, whether its seed search can
find any free coordinate at all. `benchmarks/pathfinder_fidelity.py` compares
the result with keras_ssm's generator.

The original ran under Python 2 with `scipy.misc.imresize` / `imsave`, which
byte-scale a float array (its min..max to 0..255) before resizing / saving;
the checkout's Pillow port resizes float arrays in mode F instead (negative
Lanczos ringing), so both helpers are replaced by the byte-scaling behaviour
the LRA release was made with.

Needs numpy, scipy, Pillow, matplotlib and opencv-python(-headless), in an
environment of its own:

    python -m benchmarks pathfinder_reference --reference PATHFINDER_CHECKOUT \
        --n 300 --out benchmarks/results/pathfinder_reference.json
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np

# LRA's Pathfinder-32 settings (lra_benchmarks/data/pathfinder.py docstrings).
SETTINGS_32 = dict(window_size=[32, 32], padding=1, antialias_scale=2, paddle_margin_list=[1],
                   paddle_length=2, paddle_thickness=0.5, marker_radius=1.5, seed_distance=7,
                   continuity=1.0, snake_contrast_list=[2.0], paddle_contrast_list=[0.75],
                   distractor_budget=20)
CONTOUR_LENGTHS = {"easy": 6, "intermediate": 9, "hard": 14}


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
    sys.path.insert(0, os.path.abspath(args.reference))
    import snakes
    import snakes2

    snakes._imresize = snakes2._imresize = old_imresize
    images, counts, placed = [], [], [0]
    make_snake = snakes.make_snake

    def counting_make_snake(*a, **k):
        result = make_snake(*a, **k)
        placed[0] += bool(result[2])
        return result

    def keeping(path, array):  # instead of writing a PNG
        images.append(bytescale(array))
        counts.append(placed[0])
        placed[0] = 0

    snakes.make_snake, snakes2._imsave = counting_make_snake, keeping

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
        "difficulty": args.difficulty,
        "n": len(images),
        "seed": args.seed,
        "distractors_requested": run.num_distractor_snakes,
        "distractors_placed": counts,
        "ink": ink,
        "usable_seed_orientations": usable,
        "seconds_per_image": seconds / max(len(images), 1),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(f"{len(images)} images, {seconds / len(images) * 1000:.0f} ms each; distractors placed "
          f"{np.mean(counts):.2f} of {run.num_distractor_snakes}; ink {np.mean(ink) * 100:.1f} %; "
          f"usable seed orientations {len(usable)} of 360 -> {args.out}")


if __name__ == "__main__":
    main()
