"""Chunked diagonal linear scan in `keras.ops`, with its hand-written gradient.

The fast `linear_scan` of the TensorFlow and torch backends (measured in
`benchmarks/scan.py`). Time is cut into chunks of `chunk` steps and a
Python-unrolled loop over the steps of a chunk runs all chunks at once
(vectorised over batch x chunks: few, large ops). Pass 1 gives each chunk's
end state from zero and its total multiplier; those form a scan `chunk` times
shorter, solved by recursion; pass 2 reruns the loop from the state entering
each chunk. Two passes write one full-size tensor instead of four, which is
what costs at long lengths. Products only, no divisions or logs, so
`a -> 0` is harmless.

Autodiff through the unrolled graph is slow (many small ops), so the backends
wrap `forward` in a custom gradient that calls `backward`: one more scan, the
other way in time, plus a few elementwise ops.
"""

from keras import ops

CHUNK = 8  # steps per chunk: beats 16 on TF and torch (`benchmarks/scan.py`)


def _chunks(x, t, reverse=False):
    """`(batch, L, P)` -> `(batch, n, t, P)`, zero-padded in time where the scan
    ends (so the padding never reaches a real step); also `n` and the padding."""
    length = x.shape[1]
    if length is None:  # TF graph with unknown length
        length = ops.shape(x)[1]
        n = (length + t - 1) // t
    else:
        n = -(-length // t)
    pad = n * t - length
    if not isinstance(pad, int) or pad:
        zeros = ops.zeros((ops.shape(x)[0], pad, x.shape[2]), x.dtype)
        x = ops.concatenate([zeros, x] if reverse else [x, zeros], axis=1)
    return ops.reshape(x, (-1, n, t, x.shape[2])), n, pad


def forward(a, b, initial_state, reverse=False, chunk=CHUNK, levels=None):
    """All states of `x_k = a_k x_{k-1} + b_k`, `x_{-1} = initial_state`
    (reverse: `x_k = a_k x_{k+1} + b_k`, `x_L = initial_state`).

    `a` is `(P,)` or `(batch, L, P)`, `b` is `(batch, L, P)`, `initial_state`
    is `(batch, P)`; all complex64. Returns `(batch, L, P)`. `levels` bounds
    the recursion when the length is unknown (TF graph): the default covers
    `L < 2^31`; a static length stops by itself.
    """
    if levels is None:
        levels = -(-31 // (max(chunk, 2).bit_length() - 1))
    length, width = b.shape[1], b.shape[2]
    varying = len(a.shape) == 3
    t = chunk if length is None else min(chunk, length)
    b_c, n, pad = _chunks(b, t, reverse)
    a_c = _chunks(a, t, reverse)[0] if varying else None
    order = range(t - 1, -1, -1) if reverse else range(t)

    def a_at(k):
        return a_c[:, :, k] if varying else a

    # An unknown length recurses `levels` times, the last ones on one chunk.
    static = isinstance(n, int)
    if (static and n == 1) or (not static and levels <= 1):
        entering = initial_state[:, None]
    else:
        first, *rest = order
        end, total = b_c[:, :, first], a_at(first)
        for k in rest:
            end = a_at(k) * end + b_c[:, :, k]
            total = a_at(k) * total
        after = forward(total, end, initial_state, reverse, chunk, levels - 1)
        # A chunk is entered with the state after its predecessor in scan order.
        if reverse:
            entering = ops.concatenate([after[:, 1:], initial_state[:, None]], axis=1)
        else:
            entering = ops.concatenate([initial_state[:, None], after[:, :-1]], axis=1)

    states, state = {}, entering
    for k in order:
        state = a_at(k) * state + b_c[:, :, k]
        states[k] = state
    x = ops.reshape(ops.stack([states[k] for k in range(t)], axis=2), (-1, n * t, width))
    if reverse:
        return x[:, pad:]
    return x[:, : ops.shape(b)[1]] if length is None else x[:, :length]


def backward(a, initial_state, x, grad_x, reverse=False, chunk=CHUNK):
    """`(grad_a, grad_b, grad_initial_state)` of `forward` given `grad_x`.

    Gradients in the convention of TensorFlow and torch for a real loss:
    `dL/dRe z + i dL/dIm z`. With `g_k = dL/db_k`, the adjoint recursion is
    `g_k = grad_x_k + conj(a_{k+1}) g_{k+1}` (reverse: `k-1`): a scan the
    other way in time.
    """
    varying = len(a.shape) == 3
    a_conj = ops.conj(a)
    if varying:  # a one step later in scan order, zero past the end
        zero = ops.zeros_like(a_conj[:, :1])
        parts = [zero, a_conj[:, :-1]] if reverse else [a_conj[:, 1:], zero]
        a_adjoint = ops.concatenate(parts, axis=1)
    else:
        a_adjoint = a_conj
    g = forward(a_adjoint, grad_x, ops.zeros_like(initial_state), not reverse, chunk)
    # grad_a_k = g_k conj(state before step k); the first step sees initial_state.
    edge = -1 if reverse else 0
    if reverse:
        inner = g[:, :-1] * ops.conj(x[:, 1:])
    else:
        inner = g[:, 1:] * ops.conj(x[:, :-1])
    first = g[:, edge] * ops.conj(initial_state)
    if varying:
        parts = [inner, first[:, None]] if reverse else [first[:, None], inner]
        grad_a = ops.concatenate(parts, axis=1)
    else:
        grad_a = ops.sum(inner, axis=(0, 1)) + ops.sum(first, axis=0)
    grad_initial = g[:, edge] * (a_conj[:, edge] if varying else a_conj)
    return grad_a, g, grad_initial
