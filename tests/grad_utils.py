"""Backend-neutral gradients for tests: `value_and_grad(fn, *args)`.

`fn` takes Keras tensors (one per numpy argument) and returns a scalar; the
value and the gradient with respect to every argument come back as numpy
arrays, on whichever backend `KERAS_BACKEND` selects. Arguments must be real
floating arrays: build complex values inside `fn`, so that the gradients are
plain partial derivatives on every backend.
"""

import keras
import numpy as np


def _check(args):
    arrays = [np.asarray(x) for x in args]
    for x in arrays:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"value_and_grad needs real floating inputs, got {x.dtype}")
    return arrays


def value_and_grad(fn, *args, jit=False):
    """`(value, [d value / d arg for arg in args])` as numpy arrays.

    With `jit=True` the computation runs compiled: under `jax.jit` or a
    `tf.function` (torch stays eager).
    """
    arrays = _check(args)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        step = jax.value_and_grad(fn, argnums=tuple(range(len(arrays))))
        if jit:
            step = jax.jit(step)
        value, grads = step(*arrays)
    elif backend == "tensorflow":
        import tensorflow as tf

        def step(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                value = fn(*xs)
            grads = tape.gradient(value, xs, unconnected_gradients="zero")
            return value, grads

        if jit:
            step = tf.function(step)
        value, grads = step(*[tf.constant(x) for x in arrays])
    elif backend == "torch":
        xs = [keras.ops.convert_to_tensor(x).detach().requires_grad_() for x in arrays]
        value = fn(*xs)
        grads = [g if g is not None else x.new_zeros(x.shape) for x, g in
                 zip(xs, _torch_grad(value, xs))]
        value = value.detach()
        grads = [g.detach() for g in grads]
    else:
        raise NotImplementedError(f"value_and_grad: backend {backend!r}")
    value = keras.ops.convert_to_numpy(value)
    grads = [keras.ops.convert_to_numpy(g) for g in grads]
    return value, grads


def _torch_grad(value, xs):
    import torch

    return torch.autograd.grad(value, xs, allow_unused=True)
