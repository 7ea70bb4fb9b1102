"""The error a preset that cannot be used safely raises."""


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
