"""The argument checks shared by the layers, models, data loaders and export.

>>> check_positive_int("length", 3)
>>> check_choice("norm", "batch", ("batch", "layer"))
"""

import numbers


def check_choice(name, value, allowed):
    """Raises a ValueError naming `name` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")


def check_non_negative_int(name, value):
    """Raises a ValueError naming `name` unless `value` is an integer >= 0
    (Python or numpy; not a bool)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")


def check_positive_int(name, value, allow_none=False):
    """Raises a ValueError naming `name` unless `value` is a positive integer
    (Python or numpy; not a bool), or None when `allow_none`."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
