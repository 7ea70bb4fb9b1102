"""Switching a model's SSM layers to real arithmetic (see `layers.real_form`)."""

import contextlib

import keras  # noqa: F401 (the doctest)

from keras_ssm.layers import real_form
from keras_ssm.layers.base import ssm_layers


@contextlib.contextmanager
def real_arithmetic(model):
    """Runs `model`'s SSM layers without complex dtype or FFT while open.

    The layers compute their kernels and powers of `Λ̄` once per shape (kept
    until the context closes: weights changed inside are not seen), in
    numpy, and apply them as depthwise convolutions and real matmuls, so
    the graph of a `tf.function` traced inside exports anywhere. Outputs equal
    the usual pass (float32 round-off); streaming states become real
    `(..., 2)` tensors (real and imaginary parts) and stream by `chunk`.

    Example:
    >>> import numpy as np
    >>> import keras_ssm
    >>> layer = keras_ssm.S5Layer(state_dim=8, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((1, 32, 4)).astype("float32")
    >>> y = keras.ops.convert_to_numpy(layer(x))
    >>> with real_arithmetic(layer):
    ...     y_real = keras.ops.convert_to_numpy(layer(x))
    >>> bool(np.allclose(y, y_real, atol=1e-5))
    True
    """
    layers = ssm_layers(model)
    if not layers:
        raise ValueError(f"`model` ({type(model).__name__}) holds no keras_ssm SSM layer.")
    previous = [layer.real_arithmetic for layer in layers]
    opened = []
    for layer in layers:
        layer.real_arithmetic = True
        opened.append(real_form.open_cache(layer))
    try:
        yield model
    finally:
        for layer, value, mine in zip(layers, previous, opened):
            layer.real_arithmetic = value
            if mine:
                real_form.close_cache(layer)
