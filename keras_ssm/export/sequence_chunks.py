"""The sequence form in chunks: cost linear in the length.

In real arithmetic a layer's sequence pass convolves with a kernel (or the
powers of `Λ̄`) as long as its input, `O(L²)` per channel. Cut into chunks
of `C` steps, the same pass is the streaming form's `chunk` run on every
chunk at once (the chunks stacked on the batch axis), each from the state
that enters it:

1. `_real_chunk` from the zero state gives each chunk's end state `e_i`
   (`Σ_j Λ̄^{C−1−j} B̄ u_j`; its outputs are unused and pruned from the graph);
2. the state entering chunk `i` is `x_i = Λ̄^C x_{i−1} + e_{i−1}`, a scan
   `C` times shorter than the input (`scan_states`, log-depth);
3. `_real_chunk` from those states gives the outputs.

That is `O(L·C)` per channel plus the states, a few large ops (no loop in
the graph), which every route (tf2onnx, the LiteRT converter, Keras's
`model.export`) converts like the unchunked form. A bidirectional layer
runs its backward half the same way over the reversed input (its own `C`,
each output reading the state before its input). DSS-softmax, whose kernel
depends on the length, keeps the whole-length convolution.
"""

import contextlib

import keras  # noqa: F401 (the doctests)
from keras import ops

from keras_ssm.layers import real_form
from keras_ssm.layers.base import KernelSSMLayer, ssm_layers
from keras_ssm.validation import check_positive_int

# Steps per chunk of the sequence form (`python -m benchmarks export --sequence`).
SEQUENCE_CHUNK = 64


def _chunks(x, size):
    """`(batch, L, P)` → `(batch · n, size, P)`, zero-padded after the end
    (a causal pass never sees the padding), and `n`."""
    # Python ints: a size that torch's tracer records is computed in the
    # graph, where ONNX's integer division truncates.
    length, width = int(x.shape[1]), int(x.shape[2])
    n = (length + size - 1) // size
    x = ops.pad(x, [[0, 0], [0, n * size - length], [0, 0]])
    return ops.reshape(x, (-1, size, width)), n


def scan_states(re, im, log_z):
    """All states of `x_k = z x_{k−1} + v_k` from `x_{−1} = 0`, in real
    arithmetic: a log-depth scan (`⌈log₂ L⌉` rounds of
    `x_k += z^s x_{k−s}`, `s = 1, 2, 4, …`), a few elementwise ops per
    round on the whole tensor.

    Args:
        re, im: real and imaginary parts of `v`, `(batch, L, P)` float32
            tensors with a static `L`.
        log_z: `(P,)` complex numpy array, `log z` of each mode.

    Returns:
        `(Re x, Im x)`, each `(batch, L, P)`.

    Example:
    >>> import numpy as np
    >>> z = np.array([0.9 + 0.1j])
    >>> v = np.ones((1, 5, 1), "float32")
    >>> re, im = scan_states(v, np.zeros_like(v), np.log(z))
    >>> x = [np.sum(z[0] ** np.arange(k + 1)) for k in range(5)]
    >>> bool(np.allclose(keras.ops.convert_to_numpy(re)[0, :, 0], np.real(x), atol=1e-6))
    True
    """
    re, im = ops.convert_to_tensor(re), ops.convert_to_tensor(im)
    length, shift = int(re.shape[1]), 1
    while shift < length:
        # After this round x_k sums v_j over k − 2·shift < j ≤ k.
        older_re, older_im = real_form.rotate(real_form.powers(log_z, 1, start=shift)[:, 0],
                                              re[:, :-shift], im[:, :-shift])
        re = re + ops.pad(older_re, [[0, 0], [shift, 0], [0, 0]])
        im = im + ops.pad(older_im, [[0, 0], [shift, 0], [0, 0]])
        shift *= 2
    return re, im


def _entering(after, width):
    """States after each chunk `(batch, n, width)` → the state entering each
    chunk, the zero state first, `(batch · n, width)`."""
    entering = ops.concatenate([ops.zeros_like(after[:, :1]), after[:, :-1]], axis=1)
    return ops.reshape(entering, (-1, width))


def _log_z(layer, step_scale=1.0):
    """`log Λ̄` of `layer`'s modes, complex numpy in the shape of its state:
    `(H, N)` (S4D, DSS) or `(P',)` (S5). Computed eagerly: a traced
    `get_initial_state` would leave complex ops in the graph."""
    if isinstance(layer, KernelSSMLayer):
        return real_form.constants(layer, ("log_z", float(step_scale)),
                                   lambda: layer.chunk_system(step_scale)[0])
    return layer._real_system(step_scale)["log_z"]


def _chunked_pass(layer, chunk, u, step_scale, backward=False):
    """One direction of `layer`'s sequence pass over `u` `(batch, L, H)` in
    chunks of `chunk` steps (see the module's docstring)."""
    pieces, n = _chunks(u, chunk)
    log_z = _log_z(layer, step_scale)
    ends = layer._real_chunk(pieces, None, step_scale, backward=backward)[1]  # (batch · n, *state, 2)
    width = log_z.size
    flat = ops.reshape(ends, (-1, n, width, 2))
    after_re, after_im = scan_states(flat[..., 0], flat[..., 1], log_z.reshape(-1) * chunk)
    entering = ops.stack([_entering(after_re, width), _entering(after_im, width)], axis=-1)
    mixed = layer._real_chunk(pieces, ops.reshape(entering, (-1, *log_z.shape, 2)), step_scale, backward=backward)[0]
    return ops.reshape(mixed, (-1, n * chunk, int(mixed.shape[2])))[:, : int(u.shape[1])]


def _chunked_mix(layer, chunk, u, step_scale):
    """`layer`'s sequence pass in chunks, equal to its `_real_mix`: a
    bidirectional layer adds its backward half, the same chunked pass over
    the reversed input, reversed back."""
    mixed = _chunked_pass(layer, chunk, u, step_scale)
    if layer.bidirectional:
        mixed = mixed + ops.flip(_chunked_pass(layer, chunk, ops.flip(u, axis=1), step_scale, backward=True), axis=1)
    return mixed


def _chunkable(layer):
    """Whether `layer`'s sequence pass may run in chunks: a kernel that does
    not depend on the length, not in chunks already (a nested context)."""
    return (hasattr(layer, "_real_chunk") and getattr(layer, "variant", None) != "softmax"
            and "_real_mix" not in vars(layer))


def min_chunked_length(layer, chunk):
    """The shortest input of `layer` that runs in chunks of `chunk` steps.

    S5's whole-length pass convolves each of its `2P` state channels with
    `L` taps, so chunks pay as soon as there are two. An S4D / DSS chunk
    costs per step its `C` taps on each feature plus its `N` complex modes
    in and out of the state (4N) against `L` taps whole, and those small
    matrix products run about 4 times slower than the convolution in
    ONNX Runtime (`benchmarks/export.py --sequence`): it chunks from
    `4 (C + 4N)` steps on.

    >>> import numpy as np, keras_ssm
    >>> s4d, s5 = keras_ssm.S4DLayer(state_dim=8), keras_ssm.S5Layer(state_dim=8)
    >>> _ = s4d(np.zeros((1, 4, 2), "float32"))   # built: N = 4 modes per feature
    >>> min_chunked_length(s4d, 64), min_chunked_length(s5, 64)
    (321, 65)
    """
    if not isinstance(layer, KernelSSMLayer):
        return chunk + 1
    return 4 * (chunk + 4 * _log_z(layer).shape[-1]) + 1


@contextlib.contextmanager
def chunked_sequence(model, chunk=SEQUENCE_CHUNK):
    """Runs the sequence pass of `model`'s SSM layers in chunks of
    `chunk` steps while open (inside `real_arithmetic`): `O(L · chunk)` per
    channel instead of `O(L²)`. A layer whose input is too short for chunks
    to pay (`min_chunked_length`) keeps its whole-length convolution, and
    so do DSS-softmax layers. `chunk=None` changes nothing.

    Example:
    >>> import numpy as np, keras_ssm
    >>> from keras_ssm.export import real_arithmetic
    >>> layer = keras_ssm.S4DLayer(state_dim=8, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 150, 4)).astype("float32")
    >>> with real_arithmetic(layer):
    ...     whole = keras.ops.convert_to_numpy(layer(x))
    ...     with chunked_sequence(layer, chunk=16):
    ...         chunked = keras.ops.convert_to_numpy(layer(x))
    >>> bool(np.allclose(whole, chunked, atol=1e-5))
    True
    """
    if chunk is None:
        yield model
        return
    check_positive_int("sequence_chunk", chunk)
    layers = [layer for layer in ssm_layers(model) if _chunkable(layer)]
    for layer in layers:
        whole = layer._real_mix

        def mix(u, step_scale, layer=layer, whole=whole):
            if real_form.static_length(u) < min_chunked_length(layer, chunk):
                return whole(u, step_scale)
            return _chunked_mix(layer, chunk, u, step_scale)

        # An instance attribute over the class's method, removed on exit.
        layer.__dict__["_real_mix"] = mix
    try:
        yield model
    finally:
        for layer in layers:
            layer.__dict__.pop("_real_mix", None)
