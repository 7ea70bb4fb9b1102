"""Pathfinder and Path-X (LRA): the loader (`loader.py`), the image generator
(`generator.py`) and its command line (`cli.py`,
`python -m keras_ssm.data.pathfinder --out DIR --size 32`)."""

from keras_ssm.data.pathfinder.cli import main
from keras_ssm.data.pathfinder.generator import (
    DIFFICULTIES,
    MODES,
    SETTINGS,
    Settings,
    balanced_labels,
    generate_image,
    seed_orientations,
    write_dataset,
)
from keras_ssm.data.pathfinder.loader import (
    EXPECTED_LAYOUT,
    FOLDERS,
    LABELS,
    SCALES,
    SPLITS,
    TEST_ONLY,
    WHERE,
    find_folder,
    load_pathfinder,
    read_listing,
    read_metadata,
    split_indices,
)

__all__ = [
    "DIFFICULTIES", "EXPECTED_LAYOUT", "FOLDERS", "LABELS", "MODES", "SCALES", "SETTINGS", "SPLITS", "Settings", "TEST_ONLY",
    "WHERE", "balanced_labels", "find_folder", "generate_image", "load_pathfinder", "main", "read_listing",
    "read_metadata", "seed_orientations", "split_indices", "write_dataset",
]
