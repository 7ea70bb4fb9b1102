"""What the Pathfinder fidelity benchmark measures in one image: the one definition of each measure.

Needs only numpy, so that both `benchmarks/pathfinder_reference.py` (which runs
the published generator in an environment of its own, without keras) and
`benchmarks/pathfinder_fidelity.py` (keras_ssm's generator) use these same
functions.

Markers are measured on the marker layer alone, as the generator drew it for
that one marker, in the final image's 8-bit units (the layer times the scale
that maps the image's min..max to 0..255), so that a curve passing under the
marker does not leak into its brightness, size or centre. Positions come
from the generator (the point it centred the marker on), never from pixels.

- `peak`: the layer's largest value (0..255).
- `size`: pixels of the layer at or above half its peak.
- `mean`: the layer's mean over those pixels.
- `mean_in_image`: the final 8-bit image's mean over those pixels (what the
  model sees there, a curve included).
- `centre`: the intensity-weighted centroid (row, col) of the layer within
  `WINDOW` px of the marker point, pixel centres at integer coordinates;
  `offset` = centre minus the point the generator aimed at; `fraction` = the
  centre's fractional part (row, col). Only markers whose window lies inside
  the image count for these (`inside`).

The pixel histogram of the whole 8-bit image counts its pixels in
`HISTOGRAM_EDGES` bins: 0, 1-63, 64-127, 128-191, 192-254 and 255.
"""

import numpy as np

WINDOW = 3
HISTOGRAM_EDGES = (0, 1, 64, 128, 192, 255, 256)
HISTOGRAM_LABELS = ("0", "1-63", "64-127", "128-191", "192-254", "255")
MARKER_KEYS = ("peak", "size", "mean", "mean_in_image", "offset_row", "offset_col", "fraction_row",
               "fraction_col", "inside")


def marker_measures(layer, point, image):
    """The measures above of one marker.

    Args:
        layer: float array (the image's shape), this marker alone in 8-bit units.
        point: (row, col) the generator centred the marker on.
        image: the final uint8 image.

    Returns:
        A dict with the keys of `MARKER_KEYS` (plain floats; `inside` a bool).
    """
    layer = np.clip(np.asarray(layer, np.float64), 0, None)
    image = np.asarray(image)
    peak = float(layer.max())
    pixels = layer >= peak / 2 if peak > 0 else np.zeros(layer.shape, bool)
    r, c = int(point[0]), int(point[1])
    n_rows, n_cols = layer.shape
    r0, r1, c0, c1 = r - WINDOW, r + WINDOW + 1, c - WINDOW, c + WINDOW + 1
    inside = r0 >= 0 and c0 >= 0 and r1 <= n_rows and c1 <= n_cols
    window = layer[max(r0, 0):r1, max(c0, 0):c1]
    rows, cols = np.mgrid[max(r0, 0):min(r1, n_rows), max(c0, 0):min(c1, n_cols)]
    total = window.sum()
    centre = ((rows * window).sum() / total, (cols * window).sum() / total) if total > 0 else (np.nan, np.nan)
    return {
        "peak": peak,
        "size": int(pixels.sum()),
        "mean": float(layer[pixels].mean()) if pixels.any() else 0.0,
        "mean_in_image": float(image[pixels].mean()) if pixels.any() else 0.0,
        "offset_row": float(centre[0] - r),
        "offset_col": float(centre[1] - c),
        "fraction_row": float(centre[0] % 1.0),
        "fraction_col": float(centre[1] % 1.0),
        "inside": bool(inside),
    }


def histogram(image):
    """Pixel counts of the 8-bit image in the `HISTOGRAM_EDGES` bins."""
    return np.histogram(np.asarray(image).ravel(), bins=HISTOGRAM_EDGES)[0].astype(int).tolist()


def to_eight_bit_units(layer, low, high):
    """A float layer in the units of an image whose min..max (`low`..`high`) became 0..255."""
    scale = 255.0 / (high - low) if high > low else 1.0
    return (np.asarray(layer, np.float64) - low) * scale


def interval(values, z=1.96):
    """(mean, half-width of the ~95 % interval of the mean) of a sample."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float(values.mean()) if len(values) else float("nan"), float("nan")
    return float(values.mean()), float(z * values.std(ddof=1) / np.sqrt(len(values)))
