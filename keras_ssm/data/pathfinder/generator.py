"""Pathfinder / Path-X images: the generator, in the LRA folder layout.

An image holds two long dashed curves, short dashed distractor curves and two
disk markers; the label is 1 when both markers sit on the two ends of one
curve, 0 when they sit on ends of two different curves.

The generator (`python -m keras_ssm.data.pathfinder --out DIR --size 32`) re-
implements the geometry of the original generator (Kim, Linsley et al.) with
the LRA settings of every size (`SETTINGS`): curves are chains of anti-aliased
dashes ("paddles") of length `paddle_length`, separated by gaps of about `2 *
margin`, each new dash turning from the last by a random angle weighted by
`cos(continuity * angle)^2` (turns capped at 90 degrees) and kept only where
it does not run into anything drawn (exclusion masks with a `margin`); the two
target curves start `seed_distance` px apart, the first one in the central
square `2 * seed_distance` px from every edge; a target pair that runs into a
dead end is drawn again from scratch; distractor curves have `contour_length
// 3` dashes; the markers are disks of `marker_radius`. Differences from the
original, by design: labels are exactly balanced (a seeded permutation, not a
coin per image); the central square constrains the first dash's tail only;
overlap is checked around the new dash only; the two target curves avoid each
other's newest dash while they grow, and both last dashes block the
distractors. Pixel-exact equality with the LRA release is not possible
(different random streams and resampling code); the parameters, label
semantics and difficulty match.

Two modes. `"parameters"` (the default) follows the generator's parameters.
`"release"` follows what the published generator (drewlinsley/pathfinder,
from which the LRA data was made) actually draws: its seed search dilates the
occupancy with a structuring element that is the seed dash's exclusion mask
truncated to uint8 (only fully covered pixels survive), anchored at its
centre, in OpenCV, which reads outside the image as the most negative value.
For most orientations some image pixel then sees only the outside, the search
reports "no free coordinates" and the whole curve is dropped (at 32 px only
the 30 orientations -150..-121 degrees can seed), so about 1.2 of the 5
distractors requested at the hard level are placed, and the first target
curve always starts up and to the left. `"release"` reproduces that rule (and
the original's rounded-up dash ends and marker disks, a quarter pixel up and
left of the marker point), matching the published generator's distractor
count, ink, markers and pixel histogram
(`benchmarks/results/pathfinder_fidelity.md`); use it
for numbers that compare with the papers'. At 64 px 94 orientations can seed;
at 128 px (Path-X) 354 or 360, so there the two modes nearly agree
(`seed_orientations`).

Speed (one CPU core): about 15 ms per 32 px image; about 0.5 s per 64 or
128 px image, because with 14 dashes of 7-11 px and `continuity` 1.8 most
target pairs hit the border and are redrawn (as in the original).
`--workers` spreads batches over processes.
"""

import dataclasses
import functools
import math
import os
import sys

import numpy as np

from keras_ssm.data.base import check_choice, check_positive_int


@dataclasses.dataclass(frozen=True)
class Settings:
    """Generator settings of one image size (LRA's values, see module docstring).

    >>> SETTINGS[32].paddle_length, SETTINGS[32].seed_distance, SETTINGS[128].margins
    (2, 7, (2, 3))
    """

    size: int
    padding: int
    margins: tuple
    paddle_length: int
    paddle_thickness: float
    marker_radius: float
    seed_distance: int
    continuity: float
    snake_contrasts: tuple
    paddle_contrasts: tuple
    distractor_budget: int
    antialias: int = 2
    max_paddle_retrial: int = 2
    max_distractor_retrial: int = 4


SETTINGS = {
    32: Settings(32, 1, (1,), 2, 0.5, 1.5, 7, 1.0, (2.0,), (0.75,), 20),
    64: Settings(64, 1, (1,), 5, 1.0, 2.5, 12, 1.8, (0.8,), (1.0,), 22),
    128: Settings(128, 1, (2, 3), 5, 1.5, 3.0, 20, 1.8, (0.9,), (1.0,), 35),
    256: Settings(256, 22, (3,), 5, 2.0, 5.0, 27, 1.8, (1.0,), (1.0,), 30),
}
MODES = ("parameters", "release")
DIFFICULTIES = {
    "easy": ("curv_baseline", 6),
    "intermediate": ("curv_contour_length_9", 9),
    "hard": ("curv_contour_length_14", 14),
}


# --------------------------------------------------------------------------
# Geometry helpers


def _translate(point, distance, theta, exact=False):
    """Moves an integer point by `distance` along `theta`, rounding up (as the original).

    Unless `exact` (the original's way), round() first so that sin(pi) = 1e-16
    does not push a coordinate up by one.
    """
    r = point[0] + distance * math.sin(theta)
    c = point[1] + distance * math.cos(theta)
    if exact:
        return (math.ceil(r), math.ceil(c))
    return (math.ceil(round(r, 9)), math.ceil(round(c, 9)))


def _flip(theta):
    theta = theta + math.pi
    return theta - 2 * math.pi if theta > math.pi else theta


def _disk(radius):
    """Boolean disk footprint of side `2 * floor(radius) + 1`."""
    k = int(math.floor(radius))
    y, x = np.mgrid[-k:k + 1, -k:k + 1]
    return (x * x + y * y) <= radius * radius


@functools.lru_cache(maxsize=None)
def _disk_offsets(radius):
    y, x = np.nonzero(_disk(radius))
    k = int(math.floor(radius))
    return np.stack([y - k, x - k], axis=1)


@functools.lru_cache(maxsize=None)
def _circle_offsets(radius):
    """Integer offsets of points on a circle, about one pixel of arc apart (sorted, unique)."""
    step = math.radians(360.0 / (2 * math.pi * radius))
    angles = np.arange(0.0, 2 * math.pi, step)
    points = np.floor(np.stack([radius * np.sin(angles), radius * np.cos(angles)], axis=1))
    return np.unique(points.astype(np.int64), axis=0)


@functools.lru_cache(maxsize=None)
def _candidates(radius, margin):
    """Circle offsets, their directions, and each one's disk(margin) neighbourhood offsets."""
    offsets = _circle_offsets(radius)
    directions = np.arctan2(offsets[:, 0], offsets[:, 1])
    near = offsets[:, None, :] + _disk_offsets(margin)[None]
    return offsets, directions, near


@functools.lru_cache(maxsize=100_000)
def _turn_weights(theta, radius, margin, continuity):
    """`cos(min(continuity * turn, pi / 2))^2` of every candidate direction after direction `theta`."""
    directions = _candidates(radius, margin)[1]
    turn = np.abs(directions - theta) % (2 * np.pi)
    turn = np.minimum(turn, 2 * np.pi - turn)
    return np.cos(np.minimum(turn * continuity, np.pi / 2)) ** 2


@functools.lru_cache(maxsize=100_000)
def _paddle_patch(theta, length, thickness, margin, antialias, ceil_end=False):
    """Intensity (unit contrast) and exclusion-mask patches of one dash from the patch centre.

    Both are float32 squares of side `2 * h + 1`, `h = length + ceil(thickness) + margin`:
    a line of width `thickness` drawn at `antialias` times the resolution and
    downsampled with a Lanczos filter; the mask is the line dilated by a disk
    of radius `margin` (supersampled), downsampled the same way. `ceil_end`
    rounds the supersampled end point up to integers, as the original does.
    """
    from PIL import Image, ImageDraw
    from scipy import ndimage

    h = length + math.ceil(thickness) + margin
    side, big = 2 * h + 1, 2 * h * antialias + 1
    centre = h * antialias
    canvas = Image.new("L", (big, big), 0)
    end = (centre + length * antialias * math.cos(theta), centre + length * antialias * math.sin(theta))
    if ceil_end:
        row, col = _translate((centre, centre), length * antialias, theta, exact=True)
        end = (col, row)
    ImageDraw.Draw(canvas).line([(centre, centre), end], fill=255, width=int(round(thickness * antialias)))
    line = np.asarray(canvas) > 0
    dilated = ndimage.binary_dilation(line, structure=_disk(margin * antialias)) if margin else line
    def down(array):
        image = Image.fromarray(np.where(array, 255, 0).astype(np.uint8))
        return np.asarray(image.resize((side, side), Image.LANCZOS), np.float32) / 255.0

    return down(line), down(dilated), h


@dataclasses.dataclass
class _Dash:
    """A dash pasted into the image: where, its patches (cropped), and its end points."""

    rows: slice
    cols: slice
    intensity: np.ndarray
    mask: np.ndarray
    back: tuple
    front: tuple


@functools.lru_cache(maxsize=10_000)
def _release_footprint(theta, length, thickness, margin, antialias, size):
    """The published generator's seed-search footprint for orientation `theta`, or None.

    Offsets (relative to a candidate tail) whose occupancy the original's
    dilation reads: the pixels of the dash's exclusion mask that are fully
    covered (its uint8 cast), the dash drawn from the element's
    `(length + margin + 1)`-th pixel of a `2 * (length + margin) + 1` square and
    the element anchored at its centre, so that every offset is one pixel off
    the dash. None when the element is empty or leaves some pixel of a
    `size`-px image reading only the outside (OpenCV's dilation pads with the
    most negative value, and the original then finds no free coordinate).
    """
    _, mask, h = _paddle_patch(theta, length, thickness, margin, antialias, True)
    k = length + margin
    window = mask[h - k - 1:h + k, h - k - 1:h + k]
    offsets = np.argwhere(window >= 1.0) - k
    if not len(offsets):
        return None
    covered = np.zeros((size, size), bool)
    for dr, dc in offsets:
        covered[max(0, -dr):size - max(0, dr), max(0, -dc):size - max(0, dc)] = True
    return offsets if covered.all() else None


def seed_orientations(size=32, mode="release", margin=None):
    """The integer-degree orientations a curve can start with, in an empty image.

    Args:
        size: 32, 64, 128 (Path-X) or 256.
        mode: `"parameters"` (every orientation) or `"release"` (those the
            published generator's seed search accepts).
        margin: the dash margin (default: the size's first `SETTINGS` margin).

    Returns:
        A sorted list of degrees in [-180, 180).

    >>> seed_orientations(32)[:3], len(seed_orientations(32)), len(seed_orientations(32, "parameters"))
    ([-150, -149, -148], 30, 360)
    """
    check_choice("size", size, tuple(SETTINGS))
    check_choice("mode", mode, MODES)
    s = SETTINGS[size]
    margin = s.margins[0] if margin is None else margin
    if mode == "parameters":
        return list(range(-180, 180))
    return [d for d in range(-180, 180)
            if _release_footprint(round(math.radians(d), 12), s.paddle_length, s.paddle_thickness, margin,
                                  s.antialias, size) is not None]


def _place(shape, start, theta, length, thickness, margin, antialias, ceil_end=False):
    """A dash from integer `start` along `theta`, cropped at the image border."""
    intensity, mask, h = _paddle_patch(round(theta, 12), length, thickness, margin, antialias, ceil_end)
    r, c = start
    r0, c0 = max(r - h, 0), max(c - h, 0)
    r1, c1 = min(r + h + 1, shape[0]), min(c + h + 1, shape[1])
    pr, pc = slice(r0 - (r - h), r1 - (r - h)), slice(c0 - (c - h), c1 - (c - h))
    end = (r + length * math.sin(theta), c + length * math.cos(theta))
    return _Dash(slice(r0, r1), slice(c0, c1), intensity[pr, pc], mask[pr, pc], (float(r), float(c)), end)


@dataclasses.dataclass
class _Curve:
    origin: tuple  # the seed dash's free end (a marker spot)
    tip: tuple  # the current far end (a marker spot)
    pivot: tuple
    theta: float
    pending: _Dash  # the newest dash: not in the occupancy yet, so the next can attach
    dashes: list


class _Image:
    """One image under construction: intensities, occupancy, random stream."""

    def __init__(self, settings, rng, margin, release=False):
        self.s = settings
        self.rng = rng
        self.margin = margin
        self.release = release
        n = settings.size
        self.shape = (n, n)
        self.image = np.zeros(self.shape, np.float32)
        # The occupancy lives inside a frame of ones, wide enough that the
        # candidates of any extension can be read without bounds checks
        # (outside the image counts as occupied).
        self.frame = 2 * settings.paddle_length + 4 * margin + 2
        self._occupied = np.ones((n + 2 * self.frame,) * 2, np.float32)
        self.occupied[...] = 0.0
        p = settings.padding
        self.occupied[:p, :] = self.occupied[-p:, :] = 1.0
        self.occupied[:, :p] = self.occupied[:, -p:] = 1.0

    @property
    def occupied(self):
        f = self.frame
        return self._occupied[f:-f, f:-f]

    def snapshot(self):
        return self.image.copy(), self._occupied.copy()

    def restore(self, state):
        self.image, self._occupied = state[0].copy(), state[1].copy()

    def dash(self, start, theta):
        s = self.s
        return _place(self.shape, start, theta, s.paddle_length, s.paddle_thickness, self.margin, s.antialias,
                      self.release)

    def paint(self, dash, contrast):
        view = self.image[dash.rows, dash.cols]
        np.maximum(view, contrast * dash.intensity, out=view)

    def commit(self, dash):
        view = self.occupied[dash.rows, dash.cols]
        np.maximum(view, dash.mask, out=view)

    def inside(self, point):
        return 0 <= point[0] < self.shape[0] and 0 <= point[1] < self.shape[1]

    # -- seeding -----------------------------------------------------------

    def seed(self, contrast, band=0):
        """Starts a curve on a random free spot; None if no spot is found."""
        from scipy import ndimage

        s, m, n = self.s, self.margin, self.shape[0]
        for _ in range(s.max_paddle_retrial + 1):
            theta = math.radians(int(self.rng.integers(-180, 180)))
            free = self.occupied <= 0.3
            if free.mean() < 0.01:
                return None
            if self.release:
                spots = self._release_spots(theta, band)
                if spots is None:  # the original gives the curve up, not just the orientation
                    return None
            elif band:
                mask, h = self._seed_patch(theta)
                # Only tails in the central square are allowed: test just those,
                # reading the framed occupancy under the dash's footprint.
                offsets = np.argwhere(mask > 0.3) - h
                lo, hi = max(band, 1), n - max(band, 1)
                if hi <= lo:
                    continue
                rows, cols = np.mgrid[lo:hi, lo:hi]
                f = self.frame
                reach = self._occupied[lo - h + f:hi + h + f, lo - h + f:hi + h + f]
                if (reach <= 0.3).all():  # nothing drawn nearby (the usual case): all free
                    spots = (rows * n + cols).reshape(-1)
                else:
                    under = self._occupied[rows.reshape(-1, 1) + offsets[:, 0] + f,
                                           cols.reshape(-1, 1) + offsets[:, 1] + f]
                    ok = ~(under > 0.3).any(axis=1)
                    spots = rows.reshape(-1)[ok] * n + cols.reshape(-1)[ok]
            else:
                mask, h = self._seed_patch(theta)
                blocked = ~free
                blocked[0, :] = blocked[-1, :] = blocked[:, 0] = blocked[:, -1] = True
                # A tail is valid when the whole dash and its margin, placed there, stay free.
                footprint = (mask > 0.3)[::-1, ::-1]
                spots = np.flatnonzero(~ndimage.binary_dilation(blocked, structure=footprint))
            if not len(spots):
                continue
            tail = divmod(int(spots[self.rng.integers(len(spots))]), n)
            curve = self._start(tail, theta, contrast)
            if curve is not None:
                return curve
        return None

    def _seed_patch(self, theta):
        s = self.s
        _, mask, h = _paddle_patch(round(theta, 12), s.paddle_length, s.paddle_thickness, self.margin, s.antialias)
        return mask, h

    def _release_spots(self, theta, band):
        """Free tails as the original's seed search finds them; None where it finds none."""
        s, n = self.s, self.shape[0]
        offsets = _release_footprint(round(theta, 12), s.paddle_length, s.paddle_thickness, self.margin,
                                     s.antialias, n)
        if offsets is None:
            return None
        blocked = self.occupied.copy()
        width = max(band, 1)
        blocked[:width, :] = blocked[-width:, :] = blocked[:, :width] = blocked[:, -width:] = 1.0
        reach = np.zeros_like(blocked)
        for dr, dc in offsets:  # outside the image reads as nothing
            target = reach[max(0, -dr):n - max(0, dr), max(0, -dc):n - max(0, dc)]
            np.maximum(target, blocked[max(0, dr):n - max(0, -dr), max(0, dc):n - max(0, -dc)], out=target)
        spots = np.flatnonzero(reach <= 0.3)
        return spots if len(spots) else None

    def seed_near(self, other_tail, contrast):
        """Starts the second target curve `seed_distance` px from the first one's tail."""
        s = self.s
        for _ in range(s.max_paddle_retrial + 1):
            alpha = math.radians(int(self.rng.integers(-180, 180)))
            theta = math.radians(int(self.rng.integers(-180, 180)))
            tail = (int(round(other_tail[0] + s.seed_distance * math.sin(alpha))),
                    int(round(other_tail[1] + s.seed_distance * math.cos(alpha))))
            if not self.inside(tail):
                continue
            curve = self._start(tail, theta, contrast)
            if curve is not None:
                return curve
        return None

    def _start(self, tail, theta, contrast):
        s, m = self.s, self.margin
        head = _translate(tail, s.paddle_length, theta, self.release)
        pivot = _translate(head, s.paddle_length + m, _flip(theta), self.release)
        if not (self.inside(head) and self.inside(pivot)):
            return None
        dash = self.dash(tail, theta)
        self.paint(dash, contrast)
        return _Curve(origin=tail, tip=head, pivot=pivot, theta=theta, pending=dash, dashes=[dash])

    # -- growing -----------------------------------------------------------

    def extend(self, curve, contrast, others=()):
        """Adds one dash at the far end of `curve`; False at a dead end.

        `others`: curves being grown at the same time, whose newest dash
        (not in the occupancy yet) must still be avoided.
        """
        s, m = self.s, self.margin
        L = s.paddle_length
        q = _translate(curve.pivot, L + 2 * m, curve.theta, self.release)
        offsets, directions, near = _candidates(L + m, m)
        # Occupancy dilated by a disk of radius m, read at the candidates only.
        f = self.frame
        crowd = self._occupied[near[..., 0] + (q[0] + f), near[..., 1] + (q[1] + f)].max(axis=1)
        weight = _turn_weights(round(curve.theta, 12), L + m, m, s.continuity) * np.maximum(1 - crowd, 0)
        cumulative = np.cumsum(weight)
        total = cumulative[-1]
        if total < 1e-4:
            return False
        n = self.shape[0]
        for _ in range(s.max_paddle_retrial + 1):
            k = min(int(np.searchsorted(cumulative, self.rng.random() * total, side="right")), len(weight) - 1)
            start = (q[0] + int(offsets[k, 0]), q[1] + int(offsets[k, 1]))
            if not (0 <= start[0] < n and 0 <= start[1] < n):  # weight 0: never, but be safe
                continue
            dash = self.dash(start, _flip(float(directions[k])))
            region = self.occupied[dash.rows, dash.cols].copy()
            for other in others:
                _max_into(region, dash, other.pending)
            if (region + dash.mask).max() < 1.8:
                break
        else:
            return False
        self.paint(dash, contrast)
        self.commit(curve.pending)
        # The dash runs from `start` (the curve's new far end) back towards q.
        dash.back, dash.front = dash.front, dash.back
        curve.pending, curve.pivot, curve.theta, curve.tip = dash, q, float(directions[k]), start
        curve.dashes.append(dash)
        return True

    def grow(self, length, contrast):
        """A free-standing curve of `length` dashes (a distractor); None if it does not fit."""
        state = self.snapshot()
        curve = self.seed(contrast)
        ok = curve is not None and all(self.extend(curve, contrast) for _ in range(length - 1))
        if not ok:
            self.restore(state)
            return None
        self.commit(curve.pending)
        return curve

    def markers(self, points):
        """Disks of `marker_radius` at `points`, rendered supersampled: float [0, 1] image.

        `"parameters"`: a disk centred on the pixel's centre. `"release"`: as the
        published generator draws them, each disk alone: the supersampled pixels
        within `marker_radius * antialias` of supersampled pixel `point *
        antialias` (a disk centred on that pixel's top-left sub-pixel, so its
        centre lands a quarter pixel up and left of the point after downsampling;
        29 sub-pixels, 8 px above half the peak), downsampled with Lanczos; the
        markers are max-combined.
        """
        from PIL import Image, ImageDraw

        a, n, radius = self.s.antialias, self.shape[0], self.s.marker_radius
        if self.release:
            layer = np.zeros(self.shape, np.float32)
            y, x = np.ogrid[:n * a, :n * a]
            for r, c in points:
                disk = (y - r * a) ** 2 + (x - c * a) ** 2 <= (radius * a) ** 2
                canvas = Image.fromarray(np.where(disk, 255, 0).astype(np.uint8))
                np.maximum(layer, np.asarray(canvas.resize((n, n), Image.LANCZOS), np.float32) / 255.0, out=layer)
            return layer
        canvas = Image.new("L", (n * a, n * a), 0)
        draw = ImageDraw.Draw(canvas)
        for r, c in points:
            y, x = (r + 0.5) * a, (c + 0.5) * a
            draw.ellipse([x - radius * a, y - radius * a, x + radius * a, y + radius * a], fill=255)
        return np.asarray(canvas.resize((n, n), Image.LANCZOS), np.float32) / 255.0


def _max_into(region, dash, other):
    """`region` (the occupancy under `dash`) max-combined with `other`'s mask where they overlap."""
    r0 = max(dash.rows.start, other.rows.start)
    r1 = min(dash.rows.stop, other.rows.stop)
    c0 = max(dash.cols.start, other.cols.start)
    c1 = min(dash.cols.stop, other.cols.stop)
    if r0 >= r1 or c0 >= c1:
        return
    target = region[r0 - dash.rows.start:r1 - dash.rows.start, c0 - dash.cols.start:c1 - dash.cols.start]
    source = other.mask[r0 - other.rows.start:r1 - other.rows.start, c0 - other.cols.start:c1 - other.cols.start]
    np.maximum(target, source, out=target)


# --------------------------------------------------------------------------
# One image


def generate_image(size=32, difficulty="hard", label=None, seed=0, max_attempts=100_000, mode="parameters"):
    """Draws one Pathfinder image with its geometry.

    Args:
        size: 32, 64, 128 (Path-X) or 256.
        difficulty: `"easy"`, `"intermediate"` or `"hard"` (6, 9, 14 dashes
            per target curve).
        label: 1 (markers on one curve), 0 (on two curves), or None (drawn).
        seed: int, or a `numpy.random.Generator`.
        max_attempts: restarts of the target curves before giving up.
        mode: `"parameters"` (follow the generator's parameters) or
            `"release"` (draw as the published generator behind the LRA
            data does; see the module docstring).

    Returns:
        `(image, label, geometry)`: uint8 `(size, size)` (each image
        rescaled so its brightest pixel is 255, as the original), the
        label, and a dict: `curves` (the two target curves, each a list of
        dashes `(back, front)` in (row, col) pixel coordinates, from the
        origin tip to the far tip), `distractors` (same form), `markers`
        (two (row, col) points), `marker_curves` (the index in `curves`
        that each marker sits on), `margin`, `contour_length`,
        `distractor_length`.

    >>> image, label, geometry = generate_image(32, seed=3, label=1)
    >>> image.shape, image.dtype.name, label, geometry["marker_curves"][0] == geometry["marker_curves"][1]
    ((32, 32), 'uint8', 1, True)
    """
    check_choice("size", size, tuple(SETTINGS))
    check_choice("difficulty", difficulty, tuple(DIFFICULTIES))
    check_choice("mode", mode, MODES)
    s = SETTINGS[size]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if label is None:
        label = int(rng.integers(2))
    contour_length = DIFFICULTIES[difficulty][1]
    distractor_length = contour_length // 3
    num_distractors = s.distractor_budget // distractor_length
    margin = int(s.margins[rng.integers(len(s.margins))])
    release = mode == "release"
    for _ in range(max_attempts):
        canvas = _Image(s, rng, margin, release)
        means = list(s.snake_contrasts) * 2
        rng.shuffle(means)
        means = means[:2]
        first = canvas.seed(s.paddle_contrasts[0] * means[0], band=2 * s.seed_distance)
        second = first and canvas.seed_near(first.origin, s.paddle_contrasts[0] * means[1])
        if not second:
            continue
        ok = True
        for _ in range(contour_length - 1):
            contrast = s.paddle_contrasts[rng.integers(len(s.paddle_contrasts))]
            # The original lets each target curve ignore the other's newest dash.
            if not (canvas.extend(first, contrast * means[0], others=() if release else (second,))
                    and canvas.extend(second, contrast * means[1], others=() if release else (first,))):
                ok = False
                break
        if ok:
            break
    else:
        raise RuntimeError(f"could not place the two target curves in {max_attempts} attempts.")
    if not release:  # the original leaves the first curve's last dash out of the occupancy
        canvas.commit(first.pending)
    canvas.commit(second.pending)
    distractors = []
    for _ in range(num_distractors):
        contrast = s.snake_contrasts[rng.integers(len(s.snake_contrasts))]
        for _ in range(s.max_distractor_retrial + 1):
            curve = canvas.grow(distractor_length, contrast)
            if curve is not None:
                distractors.append(curve)
                break
    targets = (first, second)
    on = int(rng.integers(2))
    other = on if label == 1 else 1 - on
    points = (targets[on].origin, targets[other].tip)
    image = np.maximum(canvas.image, canvas.markers(points))
    image = np.clip(image, 0, None)
    peak = image.max()
    image = np.round(image * (255.0 / peak)).astype(np.uint8) if peak > 0 else image.astype(np.uint8)

    def dashes(curve):
        return [(d.back, d.front) for d in curve.dashes]

    geometry = {
        "curves": [dashes(c) for c in targets],
        "distractors": [dashes(c) for c in distractors],
        "markers": points,
        "marker_curves": (on, other),
        "margin": margin,
        "contour_length": contour_length,
        "distractor_length": distractor_length,
    }
    return image, int(label), geometry


# --------------------------------------------------------------------------
# Writing the LRA layout


def _image_seed(seed, size, difficulty, index):
    key = (size, DIFFICULTIES[difficulty][1], index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def balanced_labels(n, seed):
    """Exactly balanced 0 / 1 labels in a seeded random order (`n // 2` ones).

    >>> labels = balanced_labels(7, seed=0)
    >>> len(labels), int(labels.sum()), bool((labels == balanced_labels(7, seed=0)).all())
    (7, 3, True)
    """
    labels = np.arange(n) % 2
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31,))).permutation(labels)


def _write_batch(job):
    """Writes one `imgs/<batch>/` folder; returns its metadata lines."""
    from PIL import Image

    folder, size, difficulty, seed, batch, first, labels, mode = job
    s = SETTINGS[size]
    contour_length = DIFFICULTIES[difficulty][1]
    os.makedirs(os.path.join(folder, "imgs", str(batch)), exist_ok=True)
    lines = []
    for i, label in enumerate(labels):
        image, label, geometry = generate_image(size, difficulty, int(label),
                                                _image_seed(seed, size, difficulty, first + i), mode=mode)
        Image.fromarray(image, mode="L").save(os.path.join(folder, "imgs", str(batch), f"sample_{i}.png"))
        lines.append(
            f"imgs/{batch} sample_{i}.png {i} {label} {s.continuity:g} {contour_length} "
            f"{contour_length // 3} {s.paddle_length} {s.paddle_thickness:g} {geometry['margin']} "
            f"{len(s.paddle_contrasts)}"
        )
    return batch, lines


def write_dataset(out, size=32, n=200_000, difficulty="hard", seed=0, *, batch_size=1000,
                  workers=1, progress=False, mode="parameters"):
    """Generates `n` images into `out/pathfinder<size>/<difficulty folder>/` (LRA layout).

    Image `k` is drawn from its own seed (`seed`, `size`, `difficulty`, `k`), so the
    output depends on the arguments, not on `workers`. Labels are exactly
    balanced.

    Args:
        out: root folder.
        size: 32, 64, 128 (Path-X) or 256.
        n: number of images (LRA: 200,000 per difficulty).
        difficulty: `"easy"`, `"intermediate"` or `"hard"`.
        seed: int seed.
        batch_size: images per `imgs/<batch>` folder and metadata file.
        workers: processes (1 = this process).
        progress: show a progress bar (tqdm) on stderr.
        mode: `"parameters"` or `"release"` (see `generate_image`).

    Returns:
        The difficulty folder that was written.

    >>> import tempfile
    >>> root = tempfile.TemporaryDirectory()
    >>> folder = write_dataset(root.name, 32, n=4, batch_size=2)
    >>> sorted(os.listdir(os.path.join(folder, "metadata")))
    ['0.npy', '1.npy']
    >>> root.cleanup()
    """
    check_choice("size", size, tuple(SETTINGS))
    check_choice("difficulty", difficulty, tuple(DIFFICULTIES))
    check_positive_int("n", n)
    check_positive_int("batch_size", batch_size)
    check_positive_int("workers", workers)
    check_choice("mode", mode, MODES)
    folder = os.path.join(out, f"pathfinder{size}", DIFFICULTIES[difficulty][0])
    os.makedirs(os.path.join(folder, "metadata"), exist_ok=True)
    labels = balanced_labels(n, seed)
    jobs = [(folder, size, difficulty, seed, b, first, labels[first:first + batch_size], mode)
            for b, first in enumerate(range(0, n, batch_size))]
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=n, desc=f"pathfinder{size} images", unit=" img", file=sys.stderr)
        except ImportError:
            pass
    pool = None
    try:
        if workers > 1 and len(jobs) > 1:
            import multiprocessing

            # spawn, not fork: the parent may hold JAX / TF threads.
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)))
            results = pool.imap_unordered(_write_batch, jobs)
        else:
            results = map(_write_batch, jobs)
        for batch, lines in results:
            with open(os.path.join(folder, "metadata", f"{batch}.npy"), "w") as f:
                f.write("\n".join(lines) + "\n")
            if bar is not None:
                bar.update(len(lines))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if bar is not None:
            bar.close()
    return folder
