"""The base of the preprocessors a task carries: text in, token ids out."""

import numpy as np


def is_text(x):
    """Whether `x` (the data given to `predict`) is text: a string (or
    bytes), or a list, tuple or numpy array of them.

    >>> import numpy as np
    >>> is_text(["a film"]), is_text("a film"), is_text(np.array([[3, 4]]))
    (True, True, False)
    """
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "US" or (x.dtype.kind == "O" and x.size > 0 and all(is_text(v) for v in x.flat))
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(v, (str, bytes)) for v in x)


class SSMPreprocessor:
    """Maps text to the token ids a model was trained on (keras-hub's
    `Task.preprocessor`): a string, or a batch of them, to int32 ids
    `(batch, length)`, right-padded with id 0 (padding, masked by the
    model) to the longest text of the batch and truncated to
    `sequence_length` (keeping the start), as the training data was.

    Subclasses implement `tokenize(text)`, one text to its int ids
    `(length,)`, and list their own arguments in `get_config`. A task
    model with a `preprocessor` takes text in `predict`.

    Args:
        sequence_length: the most ids of a text (None: no limit).

    Example:
    >>> class Letters(SSMPreprocessor):
    ...     def tokenize(self, text):
    ...         return [ord(c) - ord("a") + 1 for c in text]
    >>> ids = Letters(sequence_length=3)(["ab", "cdef"])
    >>> ids.dtype.name, ids.tolist()
    ('int32', [[1, 2, 0], [3, 4, 5]])
    """

    def __init__(self, sequence_length=None):
        if sequence_length is not None and (
            isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1
        ):
            raise ValueError(f"`sequence_length` must be a positive int or None, got {sequence_length!r}.")
        self.sequence_length = sequence_length

    def tokenize(self, text):
        raise NotImplementedError(f"{type(self).__name__} must implement `tokenize(text)`.")

    def __call__(self, inputs):
        if not is_text(inputs):
            raise ValueError(
                f"`inputs` must be a string or a list of strings, got {type(inputs).__name__}; "
                "token ids go to the model as they are."
            )
        texts = [inputs] if isinstance(inputs, (str, bytes)) else list(np.asarray(inputs, object).flat)
        rows = []
        for index, text in enumerate(texts):
            ids = np.asarray(self.tokenize(text))[: self.sequence_length]
            if not len(ids):
                raise ValueError(f"`inputs[{index}]` is empty: give each text at least one token.")
            rows.append(ids)
        batch = np.zeros((len(rows), max(len(r) for r in rows)), "int32")
        for row, ids in zip(batch, rows):
            row[: len(ids)] = ids
        return batch

    def get_config(self):
        return {"sequence_length": self.sequence_length}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
