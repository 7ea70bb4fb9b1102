"""Streaming a causal classifier chunk by chunk, compiled for the backend."""

import time

import keras
import numpy as np
from keras import ops

from keras_ssm.layers.base import check_positive_int, ssm_layers


def _arrays(state):
    """The tensors of a classifier's chunk state (its frame phases are 0)."""
    arrays = {"blocks": state["backbone"]["blocks"], "sum": state["sum"], "count": state["count"], "last": state["last"]}
    if "frontend" in state["backbone"]:
        arrays["frontend"] = state["backbone"]["frontend"]
    return arrays


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

    Chunks may have any length: the samples that do not fill the model's
    stride yet (`model.backbone.stride`: its front end's hop times its
    pooling) wait for the next chunk, and the logits returned after each
    chunk still count them (the full pass over a short tail, not kept), so
    they are always those of the full pass over everything heard so far.
    The whole strides go through `SSMClassifier.chunk` from the carried
    state, compiled once per shape (`jax.jit`, `tf.function`; torch runs
    eagerly without autograd). `finish(rest)` closes the stream. A token
    classifier (a backbone with `vocab_size`) streams int32 token ids
    `(batch, chunk_size)` the same way.

    Args:
        model: an `SSMClassifier` with a causal backbone.
        chunk_size: samples (or tokens) per chunk, any positive integer.
        batch_size: streams run side by side.

    Attributes:
        seconds: compute time spent so far.
        chunk_seconds: the compute time of each chunk (the first ones
            include the compilation): the real-time factor of a running stream
            is `chunk_size / rate / median(chunk_seconds[k:])`.

    Example:
    >>> import numpy as np
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=2, width=8, input_dim=1, pool=[4, 1],
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=3)
    >>> x = np.random.default_rng(0).uniform(-1, 1, (1, 70, 1)).astype("float32")
    >>> stream = ClassifierStream(model, chunk_size=30)
    >>> logits = stream(x[:, :30])
    >>> bool(np.allclose(logits, keras.ops.convert_to_numpy(model(x[:, :30])), atol=1e-5))
    True
    >>> logits = stream(x[:, 30:60])
    >>> logits = stream.finish(x[:, 60:])
    >>> bool(np.allclose(logits, keras.ops.convert_to_numpy(model(x)), atol=1e-5))
    True
    """

    def __init__(self, model, chunk_size, batch_size=1):
        check_positive_int("chunk_size", chunk_size)
        check_positive_int("batch_size", batch_size)
        if any(layer.bidirectional for layer in ssm_layers(model)):
            raise ValueError(
                "`model`: ClassifierStream needs a causal model, and this one has bidirectional SSM layers "
                "(they read the whole sequence backwards too). Stream a model built with `bidirectional=False`, "
                "or call the model on the whole sequence."
            )
        self.model, self.chunk_size, self.batch_size = model, chunk_size, batch_size
        self.stride = model.backbone.stride
        self.tokens = getattr(model.backbone, "vocab_size", None) is not None
        self._dtype, self._rank = ("int32", 2) if self.tokens else ("float32", 3)
        state = model.get_initial_state(batch_size)
        self._frames = state["backbone"]["frames"]
        self._state = _arrays(state)
        self._step = _compile(self._pure)
        self._peek = _compile(self._tail)
        self._pending = None
        self.samples, self.seconds, self.chunk_seconds = 0, 0.0, []

    def _full(self, arrays):
        backbone = {"blocks": arrays["blocks"], "frames": self._frames}
        if "frontend" in arrays:
            backbone["frontend"] = arrays["frontend"]
        return {"backbone": backbone, "sum": arrays["sum"], "count": arrays["count"], "last": arrays["last"]}

    def _pure(self, chunk, arrays):
        logits, state = self.model.chunk(chunk, self._full(arrays))
        return logits, _arrays(state)

    def _tail(self, rest, arrays):
        logits, _ = self.model.chunk(rest, self._full(arrays), final=True)
        return logits

    def _take(self, chunk):
        """`chunk` after the pending samples: the whole strides and the rest."""
        if self._pending is not None:
            chunk = np.concatenate([self._pending, chunk], axis=1)
        whole = chunk.shape[1] // self.stride * self.stride
        return chunk[:, :whole], chunk[:, whole:]

    def __call__(self, chunk):
        """Feeds `(batch, chunk_size, features)` samples (token ids `(batch,
        chunk_size)`); returns the logits `(batch, classes)` of the stream so
        far as numpy."""
        chunk = np.asarray(chunk, self._dtype)
        if chunk.ndim != self._rank or chunk.shape[:2] != (self.batch_size, self.chunk_size):
            expected = f"({self.batch_size}, {self.chunk_size}{'' if self.tokens else ', features'})"
            raise ValueError(
                f"`chunk` must have shape {expected}, got {chunk.shape}; close the stream with `finish` "
                "for a shorter last chunk."
            )
        start = time.perf_counter()
        whole, rest = self._take(chunk)
        logits = None
        if whole.shape[1]:
            logits, self._state = self._step(whole, self._state)
        if rest.shape[1]:
            logits = self._peek(rest, self._state)
        self._pending = rest if rest.shape[1] else None
        logits = ops.convert_to_numpy(logits)
        self.chunk_seconds.append(time.perf_counter() - start)
        self.seconds += self.chunk_seconds[-1]
        self.samples += self.chunk_size
        return logits

    def finish(self, rest=None):
        """Closes the stream with a last chunk of any length (or none):
        returns the logits of the whole stream, equal to the full pass."""
        start = time.perf_counter()
        if rest is not None and np.shape(rest)[1]:
            rest = np.asarray(rest, self._dtype)
            self.samples += rest.shape[1]
        else:
            rest = np.zeros((self.batch_size, 0) + (() if self.tokens else (1,)), self._dtype)
        if self._pending is not None:
            rest = np.concatenate([self._pending, rest], axis=1)
        self._pending = None
        state = self._full(self._state)
        if rest.shape[1]:
            logits, _ = self.model.chunk(rest, state, final=True)
        else:
            logits = self.model.finish(state)
        logits = ops.convert_to_numpy(logits)
        self.seconds += time.perf_counter() - start
        return logits
