"""The error a preset that cannot be used safely raises."""

import contextlib


class PresetError(ValueError):
    """A preset could not be found, downloaded, verified or loaded.

    Raised before anything is built: a preset that fails a check is never
    partly loaded. The message names the preset, the file or metadata field
    at fault and what to do about it. A `ValueError`, so callers that catch
    bad arguments catch it too.

    >>> from keras_ssm import zoo
    >>> try:
    ...     zoo.preset_path("no-such-preset")
    ... except zoo.PresetError as error:
    ...     print("no-such-preset" in str(error))
    True
    """

    # Shown as `keras_ssm.zoo.PresetError`, where callers import it from.
    __module__ = "keras_ssm.zoo"


@contextlib.contextmanager
def repair_hint(hint):
    """Ends the message of any `PresetError` raised inside with `hint`, the
    sentence saying how to repair the preset (it depends on where the preset
    came from: see `registry.repair_hint`).

    >>> try:
    ...     with repair_hint("Copy it again."):
    ...         raise PresetError("The file is damaged.")
    ... except PresetError as error:
    ...     print(error)
    The file is damaged. Copy it again.
    """
    try:
        yield
    except PresetError as error:
        hinted = PresetError(f"{error} {hint}")
        hinted.__cause__ = error.__cause__  # the error behind it, if any, as raised
        hinted.__suppress_context__ = True
        raise hinted
