"""Streaming a causal classifier chunk by chunk, compiled for the backend."""

import time

import keras
import numpy as np
from keras import ops

from keras_ssm.layers.base import StreamConstants, check_positive_int, ssm_layers, to_complex


def _arrays(state):
    """The tensors of a classifier's chunk state (its frame phases are 0)."""
    arrays = {"blocks": state["backbone"]["blocks"], "sum": state["sum"], "count": state["count"], "last": state["last"]}
    if "frontend" in state["backbone"]:
        arrays["frontend"] = state["backbone"]["frontend"]
    return arrays


class PackedState:
    """A stream's state tensors (`structure`, a nest) as the list of tensors a
    compiled step carries. On TensorFlow that is one float32 tensor `(batch,
    size)`, each tensor flattened per example, a complex one as its real then
    imaginary parts: there a call costs per argument about what a small step
    computes. On JAX and torch the tensors themselves (packing would copy the
    state on every step, which costs them more than the arguments).

    Example:
    >>> import numpy as np
    >>> state = {"x": np.ones((2, 3), "complex64"), "count": np.zeros((2, 1), "float32")}
    >>> packing = PackedState(state)
    >>> keras.ops.convert_to_numpy(packing.unpack(packing.pack(state))["x"]).tolist()[0]
    [(1+0j), (1+0j), (1+0j)]
    """

    def __init__(self, structure):
        self.structure = structure
        self._leaves = [(tuple(x.shape[1:]), keras.backend.standardize_dtype(x.dtype))
                        for x in keras.tree.flatten(structure)]
        self._packed = keras.backend.backend() == "tensorflow"

    def pack(self, structure):
        """The list of tensors that carries `structure`."""
        if not self._packed:
            return [ops.convert_to_tensor(x) for x in keras.tree.flatten(structure)]
        parts = []
        for x, (shape, dtype) in zip(keras.tree.flatten(structure), self._leaves):
            x = ops.reshape(x, (-1, int(np.prod(shape))))
            parts += [ops.real(x), ops.imag(x)] if dtype == "complex64" else [ops.cast(x, "float32")]
        return [ops.concatenate(parts, axis=1)]

    def unpack(self, tensors):
        """The nest that `pack` gave `tensors` for."""
        if not self._packed:
            return keras.tree.pack_sequence_as(self.structure, list(tensors))
        (packed,) = tensors
        flat, at = [], 0
        for shape, dtype in self._leaves:
            size = int(np.prod(shape))
            if dtype == "complex64":
                x = to_complex(packed[:, at : at + size], packed[:, at + size : at + 2 * size])
                at += 2 * size
            else:
                x, at = packed[:, at : at + size], at + size
            flat.append(ops.reshape(x, (-1, *shape)))
        return keras.tree.pack_sequence_as(self.structure, flat)


def _compile(fn):
    """`fn` compiled for any shapes (a stream's rare, odd-length peeks)."""
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


def frozen_weights(model):
    """`model`'s weights now, as numpy: a stream's steps hold them as constants."""
    return [(v, ops.convert_to_numpy(v)) for v in model.variables]


def compile_step(fn, weights, inputs, state):
    """`fn(*inputs, *state) -> tuple of tensors` compiled for arguments of the
    shapes and dtypes of `inputs` (numpy arrays or tensors) and `state`
    (tensors), with `weights` (`frozen_weights`) as constants, so the
    compiler folds what depends on them alone (the discretised systems).

    `jax.jit` compiles it (donating the state's buffers measured slower on
    CPU); TensorFlow runs it through XLA (`jit_compile`, a fixed input
    signature), called as its concrete function (half the call's cost);
    torch replays a trace of it (`torch.jit.trace`: no Python per op),
    without autograd. It is traced now on TensorFlow and torch, at the first
    call on JAX. `benchmarks/streaming.py` measures the choice.

    Example:
    >>> import numpy as np
    >>> step = compile_step(lambda x, s: (s + x, s * 2.0), [], [np.ones((1, 2), "float32")],
    ...                     [keras.ops.zeros((1, 2))])
    >>> [keras.ops.convert_to_numpy(t).tolist() for t in step(np.ones((1, 2), "float32"), keras.ops.ones((1, 2)))]
    [[[2.0, 2.0]], [[2.0, 2.0]]]
    """
    example = [*inputs, *state]

    def frozen(*args):
        with keras.StatelessScope(state_mapping=weights):
            return tuple(fn(*args))

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(frozen)
    if backend == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec(x.shape, x.dtype) for x in example]
        return tf.function(frozen, input_signature=signature, jit_compile=True, autograph=False).get_concrete_function()
    import warnings

    import torch

    class Step(torch.nn.Module):
        def forward(self, *args):
            return frozen(*args)

    def tensors(args):  # numpy chunks in (no copy)
        return tuple(torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in args)

    with torch.no_grad(), warnings.catch_warnings():
        # The shapes are fixed: the Python branches on them that the tracer warns of hold.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(Step(), tensors(example), check_trace=False)

    def run(*args):
        with torch.no_grad():
            return traced(*tensors(args))

    return run


class ClassifierStream:
    """Runs a causal `SSMClassifier` over a live stream, chunk by chunk.

    Chunks may have any length: the samples that do not fill the model's
    stride yet (`model.backbone.stride`: its front end's hop times its
    pooling) wait for the next chunk, and the logits returned after each
    chunk still count them (the full pass over a short tail, not kept), so
    they are always those of the full pass over everything heard so far.
    The whole strides go through `SSMClassifier.chunk` from the carried
    state, compiled once per chunk length (`compile_step`: `jax.jit`, XLA on
    TensorFlow, a `torch.jit.trace`) with the weights of the stream's start
    as constants, and the S4D / DSS kernels and powers of `Λ̄` computed once
    (`keras_ssm.layers.base.StreamConstants`): a stream keeps the weights it
    started with; start a new one after changing them. `finish(rest)`
    closes the stream. A token
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
        self._packing = PackedState(_arrays(state))
        self._state = self._packing.pack(_arrays(state))
        self._weights = frozen_weights(model)
        self.constants = StreamConstants(model, model.backbone.step_scale)
        self._steps = {}  # compiled per chunk length
        self._peek = _compile(self._tail)
        self._pending = None
        self.samples, self.seconds, self.chunk_seconds = 0, 0.0, []

    def _full(self, packed):
        arrays = self._packing.unpack(packed)
        backbone = {"blocks": arrays["blocks"], "frames": self._frames}
        if "frontend" in arrays:
            backbone["frontend"] = arrays["frontend"]
        return {"backbone": backbone, "sum": arrays["sum"], "count": arrays["count"], "last": arrays["last"]}

    def _pure(self, chunk, *packed):
        logits, state = self.model.chunk(chunk, self._full(packed))
        return (logits, *self._packing.pack(_arrays(state)))

    def _tail(self, rest, packed):
        with keras.StatelessScope(state_mapping=self._weights):
            logits, _ = self.model.chunk(rest, self._full(packed), final=True)
        return logits

    def _take(self, chunk):
        """`chunk` after the pending samples: the whole strides and the rest."""
        if self._pending is not None:
            chunk = np.concatenate([self._pending, chunk], axis=1)
        whole = chunk.shape[1] // self.stride * self.stride
        return np.ascontiguousarray(chunk[:, :whole]), chunk[:, whole:]

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
        with self.constants:
            if whole.shape[1]:
                step = self._steps.get(whole.shape[1])
                if step is None:
                    step = self._steps[whole.shape[1]] = compile_step(self._pure, self._weights, [whole], self._state)
                logits, *self._state = step(whole, *self._state)
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
        with self.constants, keras.StatelessScope(state_mapping=self._weights):
            if rest.shape[1]:
                logits, _ = self.model.chunk(rest, state, final=True)
            else:
                logits = self.model.finish(state)
        logits = ops.convert_to_numpy(logits)
        self.seconds += time.perf_counter() - start
        return logits
