"""Streaming a causal classifier chunk by chunk, compiled for the backend."""

import time

import keras
import numpy as np
from keras import ops

from keras_ssm.layers.base import check_positive_int


def _arrays(state):
    """The tensors of a classifier's chunk state (its frame phases are 0)."""
    return {"blocks": state["backbone"]["blocks"], "sum": state["sum"], "count": state["count"], "last": state["last"]}


def _compile(fn):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    import torch

    def no_grad(*args):
        with torch.no_grad():
            return fn(*args)

    return no_grad


class ClassifierStream:
    """Runs a causal `SSMClassifier` over a live stream, chunk by chunk.

    Each `chunk_size` samples go through the model's full pass from the
    carried state (`SSMClassifier.chunk`), compiled once (`jax.jit`,
    `tf.function`; torch runs eagerly without autograd), so the logits after
    each chunk are those of the full pass over everything heard so far;
    `finish(rest)` closes the stream with a shorter last chunk.

    Args:
        model: an `SSMClassifier` with a causal backbone.
        chunk_size: samples per chunk, a multiple of `model.backbone.stride`.
        batch_size: streams run side by side.

    Attributes:
        seconds: compute time spent so far.
        chunk_seconds: the compute time of each full chunk (the first one
            includes the compilation): the real-time factor of a running stream
            is `chunk_size / rate / median(chunk_seconds[1:])`.

    Example:
    >>> import numpy as np
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=2, width=8, input_dim=1, pool=[4, 1],
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=3)
    >>> x = np.random.default_rng(0).uniform(-1, 1, (1, 70, 1)).astype("float32")
    >>> stream = ClassifierStream(model, chunk_size=32)
    >>> for start in (0, 32):
    ...     logits = stream(x[:, start : start + 32])
    >>> logits = stream.finish(x[:, 64:])
    >>> bool(np.allclose(logits, keras.ops.convert_to_numpy(model(x)), atol=1e-5))
    True
    """

    def __init__(self, model, chunk_size, batch_size=1):
        check_positive_int("chunk_size", chunk_size)
        stride = model.backbone.stride
        if chunk_size % stride:
            raise ValueError(
                f"`chunk_size` ({chunk_size}) must be a multiple of the model's stride ({stride}, "
                f"the product of its backbone's `pool`), e.g. {stride * max(1, round(chunk_size / stride))}."
            )
        self.model, self.chunk_size, self.batch_size = model, chunk_size, batch_size
        state = model.get_initial_state(batch_size)
        self._frames = state["backbone"]["frames"]
        self._state = _arrays(state)
        self._step = _compile(self._pure)
        self.samples, self.seconds, self.chunk_seconds = 0, 0.0, []

    def _full(self, arrays):
        return {
            "backbone": {"blocks": arrays["blocks"], "frames": self._frames},
            "sum": arrays["sum"], "count": arrays["count"], "last": arrays["last"],
        }

    def _pure(self, chunk, arrays):
        logits, state = self.model.chunk(chunk, self._full(arrays))
        return logits, _arrays(state)

    def __call__(self, chunk):
        """Feeds `(batch, chunk_size, features)` samples; returns the logits
        `(batch, classes)` of the stream so far as numpy."""
        chunk = np.asarray(chunk, "float32")
        if chunk.shape[:2] != (self.batch_size, self.chunk_size):
            raise ValueError(
                f"`chunk` must have shape ({self.batch_size}, {self.chunk_size}, features), got "
                f"{chunk.shape}; close the stream with `finish` for a shorter last chunk."
            )
        start = time.perf_counter()
        logits, self._state = self._step(chunk, self._state)
        logits = ops.convert_to_numpy(logits)
        self.chunk_seconds.append(time.perf_counter() - start)
        self.seconds += self.chunk_seconds[-1]
        self.samples += self.chunk_size
        return logits

    def finish(self, rest=None):
        """Closes the stream with a last chunk of any length (or none):
        returns the logits of the whole stream, equal to the full pass."""
        start = time.perf_counter()
        state = self._full(self._state)
        if rest is not None and np.shape(rest)[1]:
            rest = np.asarray(rest, "float32")
            logits, _ = self.model.chunk(rest, state, final=True)
            self.samples += rest.shape[1]
        else:
            logits = self.model.finish(state)
        logits = ops.convert_to_numpy(logits)
        self.seconds += time.perf_counter() - start
        return logits
