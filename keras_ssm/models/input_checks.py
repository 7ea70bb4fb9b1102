"""Checks of a model's inputs that Keras would otherwise get silently wrong.

A functional model casts its inputs to the dtype of its `keras.Input`, so
int16 PCM reaches an audio model as numbers up to 32767 (logits of about
-5e5), and an embedding looks up ids outside its vocabulary as NaN (JAX),
an `IndexError` (torch) or an error naming no model (TensorFlow).

The dtype check is static and runs everywhere, inside compiled functions
too. The range check of token ids needs their values: it runs when they are
known (numpy arrays, eager tensors) and is skipped inside a traced function
(`jit`, `tf.function`, `torch.compile`); `fit`, `evaluate` and `predict` of
the keras_ssm models check array data before they compile anything, so only
a `tf.data.Dataset` or `PyDataset` of token ids goes unchecked.
"""

import keras
import numpy as np
from keras import ops


def _is_traced(x):
    if isinstance(x, keras.KerasTensor):
        return True
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return isinstance(x, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.is_tensor(x) and not hasattr(x, "numpy")  # a graph tensor
    if backend == "torch":
        import torch

        return torch.compiler.is_compiling()
    return False


def _extremes(x):
    """`(min, max)` of `x` as numpy scalars, or None inside a traced function."""
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        x = np.asarray(x)
        return (x.min(), x.max()) if x.size else None
    if _is_traced(x) or not ops.is_tensor(x):
        return None
    if 0 in tuple(x.shape):
        return None
    # Two scalars cross to the host, not the whole batch.
    return ops.convert_to_numpy(ops.min(x)), ops.convert_to_numpy(ops.max(x))


def is_array_data(x):
    """Whether `x` (the data given to `fit` / `evaluate` / `predict`) is an
    array, a tensor, or a list, tuple or dict of them (None allowed inside),
    which the input checks can read; not a dataset or generator.

    >>> import numpy as np
    >>> is_array_data(np.zeros(3)), is_array_data((np.zeros(3), None)), is_array_data(iter([]))
    (True, True, False)
    """
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(v is None or is_array_data(v) for v in x)
    return isinstance(x, np.ndarray) or ops.is_tensor(x)


def _dtype(x):
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


def check_token_ids(tokens, vocab_size, name="tokens"):
    """Raises a ValueError naming `name` and `vocab_size` if `tokens` holds an
    id outside `[0, vocab_size)` (checked when the values are known: numpy
    or eager tensors; inside a traced function this does nothing).

    >>> import numpy as np
    >>> check_token_ids(np.array([[1, 9, 0]]), vocab_size=10)
    >>> check_token_ids(np.array([[1, 12, 0]]), vocab_size=10)
    Traceback (most recent call last):
    ...
    ValueError: `tokens` holds token id 12, outside this model's vocabulary (vocab_size=10: ids 0 to 9, 0 is padding). Map each token to an id of the vocabulary the model was trained with (a preset's metadata `input` describes it).
    """
    extremes = _extremes(tokens)
    if extremes is None:
        return
    low, high = (int(v) for v in extremes)
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"`{name}` holds token id {bad}, outside this model's vocabulary (vocab_size={vocab_size}: "
            f"ids 0 to {vocab_size - 1}, 0 is padding). Map each token to an id of the vocabulary the "
            "model was trained with (a preset's metadata `input` describes it)."
        )


def check_float_inputs(inputs, name="inputs"):
    """Raises a ValueError naming `name` if `inputs` has an integer dtype:
    a model of continuous features (audio samples in [-1, 1)) would cast it
    to float and run on values up to 32767. Static: works inside compiled
    functions.

    >>> import numpy as np
    >>> check_float_inputs(np.zeros((1, 8, 1), "float32"))
    >>> check_float_inputs(np.zeros((1, 8, 1), "int16"))
    Traceback (most recent call last):
    ...
    ValueError: `inputs` has dtype int16, but this model takes float features (audio: float32 samples in [-1, 1)); integers are refused, not cast. For int16 PCM audio pass `x.astype("float32") / 32768`, as a preset's metadata `input.preprocessing` states.
    """
    dtype = _dtype(inputs)
    if "int" in dtype or dtype == "bool":
        raise ValueError(
            f"`{name}` has dtype {dtype}, but this model takes float features (audio: float32 samples "
            "in [-1, 1)); integers are refused, not cast. For int16 PCM audio pass "
            '`x.astype("float32") / 32768`, as a preset\'s metadata `input.preprocessing` states.'
        )


class ChecksArrayData:
    """Mixin of the keras_ssm models: `fit`, `evaluate` and `predict` pass
    array data to the model's `check_inputs` before Keras compiles a function
    inside which the values of token ids are unknown.

    >>> import numpy as np
    >>> from keras_ssm.models import SSMBackbone
    >>> backbone = SSMBackbone("s5", depth=1, width=8, vocab_size=4, layer_kwargs={"state_dim": 4})
    >>> isinstance(backbone, ChecksArrayData)
    True
    """

    def _check_data(self, x):
        if is_array_data(x):
            self.check_inputs(x)

    def fit(self, x=None, *args, **kwargs):
        self._check_data(x)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._check_data(x)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_data(x)
        return super().predict(x, *args, **kwargs)
