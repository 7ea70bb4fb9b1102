"""Speed of the candidate `linear_scan` paths on the active Keras backend (CPU).

    KERAS_BACKEND=jax python -m benchmarks.scan [--lengths 1024,4096,16384] [--quick]

B=8, P=32 complex64 (S5's P' after conjugate symmetry), time-invariant `a`
at every length and time-varying `a` at L=4096. Each candidate's forward and
forward+backward (gradient of a real loss w.r.t. `a` and `b`) run compiled
where the backend compiles (`jax.jit`, `tf.function`), eager on torch: warm-up
calls, then the median (and min) of several timed calls. Every candidate is
checked against a float64 numpy recurrence first. Prints a markdown table and
writes `benchmarks/results/scan_<backend>.json`. The chosen path of the backend
is `fast` (`keras_ssm.ops.linear_scan`).
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from benchmarks.harness import cpu_snapshot, other_cores, wait_for_quiet
from keras_ssm import ops as ssm_ops
from keras_ssm.ops import chunked, reference

B, P = 8, 32
LENGTHS = (1024, 4096, 16384)
VARYING_LENGTH = 4096
WARMUP, CALLS = 2, 7
FIRST_CALL_LIMIT_S = 120.0  # the first call compiles (jax.jit, tf.function)
CALL_LIMIT_S = 10.0  # a slower later warm-up call ends the phase as a timeout
PHASE_BUDGET_S = 6.0  # no further timed call once a phase has run this long
QUIET_WAIT_S = 15.0
CONTENDED_CORES = 0.5  # a phase during which other processes used more is re-run
RETRIES = 2
RESULTS = Path(__file__).resolve().parent / "results"
BACKEND = keras.backend.backend()


# -- candidates: fn(a, b) -> x, forward direction, zero initial state ---------


def chunked_autodiff(chunk):
    """The chunked scan of TF/torch, differentiated by the framework."""

    def scan(a, b):
        return chunked.forward(a, b, ops.zeros_like(b[:, 0]), chunk=chunk)

    return scan


def powers(a, n):
    """`a^0 .. a^(n-1)` stacked on a new leading axis, by repeated doubling."""
    p = ops.ones_like(a)[None]
    step = a
    while p.shape[0] < n:
        p = ops.concatenate([p, p * step[None]], axis=0)
        step = step * step
    return p[:n]


def chunked_dense(chunk):
    """Time-invariant only: each chunk as a (T, T) lower-triangular matrix of
    powers `a^(k-j)` (one einsum), chunk ends by recursion."""

    def scan(a, b, h0=None):
        length = b.shape[1]
        t = min(chunk, length)
        h0 = ops.zeros_like(b[:, 0]) if h0 is None else h0
        b_c, n, _ = chunked._chunks(b, t)
        pw = powers(a, t + 1)
        lag = np.arange(t)[:, None] - np.arange(t)[None, :]
        m = ops.reshape(ops.take(pw, np.maximum(lag, 0).reshape(-1), axis=0), (t, t, P))
        m = m * ops.cast(np.tril(np.ones((t, t), "float32"))[:, :, None], "complex64")
        x = ops.einsum("kjp,bcjp->bckp", m, b_c)
        entering = h0[:, None]
        if n > 1:
            after = scan(pw[t], x[:, :, -1], h0)
            entering = ops.concatenate([h0[:, None], after[:, :-1]], axis=1)
        x = x + pw[1:][None, None] * entering[:, :, None]
        return ops.reshape(x, (-1, n * t, P))[:, :length]

    return scan


def jax_candidates():
    import jax
    import jax.numpy as jnp

    from keras_ssm.ops import jax as jax_ops

    def lax_scan(unroll):
        def scan(a, b):
            def step(h, b_k):
                h = a * h + b_k
                return h, h

            _, x = jax.lax.scan(step, jnp.zeros_like(b[:, 0]), jnp.swapaxes(b, 0, 1), unroll=unroll)
            return jnp.swapaxes(x, 0, 1)

        return scan

    def two_level(chunk):
        """lax.scan over the steps of a chunk (all chunks at once), then over
        the chunk ends."""

        def scan(a, b):
            length = b.shape[1]
            b_c, n, _ = chunked._chunks(b, chunk)
            b_t = jnp.moveaxis(b_c, 2, 0)

            def step(h, b_k):
                h = a * h + b_k
                return h, h

            _, x = jax.lax.scan(step, jnp.zeros_like(b_t[0]), b_t)
            prod = powers(a, chunk + 1)
            _, after = jax.lax.scan(step_total(prod[chunk]), jnp.zeros_like(b[:, 0]), jnp.swapaxes(x[-1], 0, 1))
            entering = jnp.concatenate([jnp.zeros_like(b[:, :1]), jnp.swapaxes(after, 0, 1)[:, :-1]], axis=1)
            x = x + prod[1:, None, None] * entering[None]
            return jnp.moveaxis(x, 0, 2).reshape(-1, n * chunk, P)[:, :length]

        def step_total(total):
            def step(h, e):
                h = total * h + e
                return h, h

            return step

        return scan

    return {
        "fast: lax.scan": (lambda a, b: ssm_ops.linear_scan(a, b)[0], True),
        "lax.scan unroll=8": (lax_scan(8), False),
        "lax.associative_scan (accelerator path)": (
            lambda a, b: jax_ops._associative_linear_scan(a, b, False, jnp.zeros_like(b[:, 0]))[0],
            True,
        ),
        "two-level lax.scan T=64": (two_level(64), False),
        "chunked T=16, autodiff": (chunked_autodiff(16), True),
        "chunked dense T=16, autodiff": (chunked_dense(16), False),
    }


def tensorflow_candidates():
    import tensorflow as tf

    from keras_ssm.ops import tensorflow as tf_ops

    def associative_complex(a, b):
        a = tf.broadcast_to(a, tf.shape(b))

        def combine(earlier, later):
            return later[0] * earlier[0], later[0] * earlier[1] + later[1]

        return tf.reshape(ops.associative_scan(combine, (a, b), axis=1)[1], tf.shape(b))

    def tf_scan(a, b):
        b_t = tf.transpose(b, (1, 0, 2))
        if a.shape.rank == 3:
            x = tf.scan(lambda h, ab: ab[0] * h + ab[1], (tf.transpose(a, (1, 0, 2)), b_t), tf.zeros_like(b[:, 0]))
        else:
            x = tf.scan(lambda h, b_k: a * h + b_k, b_t, tf.zeros_like(b[:, 0]))
        return tf.transpose(x, (1, 0, 2))

    return {
        f"fast: chunked T={chunked.CHUNK}, custom gradient": (lambda a, b: ssm_ops.linear_scan(a, b)[0], True),
        "chunked T=16, custom gradient": (lambda a, b: tf_ops.linear_scan(a, b, chunk=16)[0], True),
        "chunked T=8, autodiff": (chunked_autodiff(8), True),
        "chunked dense T=16, autodiff": (chunked_dense(16), False),
        "keras associative_scan, complex": (associative_complex, True),
        "tf.scan": (tf_scan, True),
    }


def torch_candidates():
    import torch

    from keras_ssm.ops import torch as torch_ops

    candidates = {
        f"fast: chunked T={chunked.CHUNK}, custom gradient": (lambda a, b: ssm_ops.linear_scan(a, b)[0], True),
        "chunked T=16, custom gradient": (lambda a, b: torch_ops.linear_scan(a, b, chunk=16)[0], True),
        "chunked T=16, autodiff": (chunked_autodiff(16), True),
        "chunked T=8, autodiff": (chunked_autodiff(8), True),
    }
    try:  # private API: benchmarked only where it exists
        from torch._higher_order_ops import associative_scan as hop_scan

        def generic(a, b):
            def combine(earlier, later):
                return later[0] * earlier[0], later[0] * earlier[1] + later[1]

            return hop_scan(combine, (torch.broadcast_to(a, b.shape), b), dim=1, combine_mode="generic")[1]

        candidates["torch._higher_order_ops.associative_scan generic"] = (generic, True)
    except ImportError:
        pass
    return candidates


def candidates():
    found = {"jax": jax_candidates, "tensorflow": tensorflow_candidates, "torch": torch_candidates}[BACKEND]()
    found["reference (keras associative_scan, re/im pairs)"] = (lambda a, b: reference.linear_scan(a, b)[0], True)
    return found


# -- timing -----------------------------------------------------------------------


def data(length, varying, seed=0):
    rng = np.random.default_rng(seed)
    a_shape = (B, length, P) if varying else (P,)
    a = rng.uniform(0.5, 1.0, a_shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, a_shape))
    b = rng.standard_normal((B, length, P)) + 1j * rng.standard_normal((B, length, P))
    w = rng.standard_normal((2, B, length, P)).astype("float32")
    return a.astype("complex64"), b.astype("complex64"), w


def numpy_scan(a, b):
    a = np.broadcast_to(a.astype("complex128"), b.shape)
    x, h = np.zeros(b.shape, "complex128"), np.zeros((b.shape[0], b.shape[2]), "complex128")
    for k in range(b.shape[1]):
        h = a[:, k] * h + b[:, k]
        x[:, k] = h
    return x


def steps(fn, a, b, w):
    """`(forward(), forward_backward())`, zero-argument, results synchronised."""

    def loss(a, b, w):
        x = fn(a, b)
        return ops.sum(ops.real(x) * w[0] + ops.imag(x) * w[1])

    if BACKEND == "jax":
        import jax

        args = [jax.device_put(v) for v in (a, b, w)]
        forward = jax.jit(fn)
        grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
        return (lambda: jax.block_until_ready(forward(*args[:2])), lambda: jax.block_until_ready(grad(*args)))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        args = [tf.constant(v) for v in (a, b, w)]
        forward = tf.function(fn)

        @tf.function
        def grad(a, b, w):
            with tf.GradientTape() as tape:
                tape.watch([a, b])
                value = loss(a, b, w)
            return tape.gradient(value, [a, b])

        return (lambda: forward(*args[:2]).numpy(), lambda: [g.numpy() for g in grad(*args)])
    import torch

    args = [torch.as_tensor(v) for v in (a, b, w)]

    def forward():
        with torch.no_grad():
            return fn(*args[:2])

    def forward_backward():
        a, b = (v.detach().requires_grad_() for v in args[:2])
        return torch.autograd.grad(loss(a, b, args[2]), (a, b))

    return forward, forward_backward


def time_calls(fn):
    start, warmup_ms = time.perf_counter(), []
    for _ in range(WARMUP):
        t0 = time.perf_counter()
        fn()
        warmup_ms.append((time.perf_counter() - t0) * 1e3)
        if warmup_ms[-1] > (CALL_LIMIT_S if warmup_ms[1:] else FIRST_CALL_LIMIT_S) * 1e3:
            return {"status": "timeout", "warmup_ms": warmup_ms}
    times, cpu_start = [], cpu_snapshot()
    while len(times) < CALLS and (not times or time.perf_counter() - start < PHASE_BUDGET_S):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "status": "ok",
        "warmup_ms": warmup_ms,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "calls": len(times),
        "other_cores": other_cores(cpu_start, cpu_snapshot()),
    }


def time_quietly(fn):
    """`time_calls` on a quiet machine if possible: waits for quiet, re-runs a
    contended phase up to RETRIES times and keeps the least contended run."""
    attempts = []
    for _ in range(1 + RETRIES):
        wait_for_quiet(QUIET_WAIT_S)
        attempts.append(time_calls(fn))
        if attempts[-1].get("other_cores", 0.0) <= CONTENDED_CORES:
            break
    best = min(attempts, key=lambda r: r.get("other_cores", 0.0))
    best["attempts"] = len(attempts)
    return best


def measure(name, fn, length, varying):
    a, b, w = data(length, varying)
    record = {"candidate": name, "length": length, "a": "varying" if varying else "invariant"}
    try:
        forward, forward_backward = steps(fn, a, b, w)
        x = ops.convert_to_numpy(forward())
        expected = numpy_scan(a, b)
        record["rel_error"] = float(np.max(np.abs(x - expected)) / np.max(np.abs(expected)))
        record["fwd"] = time_quietly(forward)
        record["fwdbwd"] = time_quietly(forward_backward)
    except Exception as e:  # a candidate that fails is reported, not fatal
        record["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return record


def cell(phase):
    if phase is None:
        return "-"
    if phase["status"] != "ok":
        return phase["status"]
    return f"{phase['median_ms']:.1f} ({phase['min_ms']:.1f})"


def table(records):
    lines = [
        f"linear_scan on {BACKEND}, B={B}, P={P} complex64, CPU: median (min) ms of the timed calls;",
        "other cores: CPU used by other processes meanwhile (2-core machine).",
        "",
        "| candidate | a | L | fwd ms | fwd+bwd ms | rel. error | other cores |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['candidate']} | {r['a']} | {r['length']} | failed: {r['error']} | | | |")
            continue
        busy = max(r["fwd"].get("other_cores", 0.0), r["fwdbwd"].get("other_cores", 0.0))
        lines.append(
            f"| {r['candidate']} | {r['a']} | {r['length']} | {cell(r['fwd'])} | {cell(r['fwdbwd'])} "
            f"| {r['rel_error']:.1e} | {busy:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--quick", action="store_true", help="L=4096 only, 3 timed calls")
    args = parser.parse_args(argv)
    global CALLS
    lengths = [int(v) for v in args.lengths.split(",")]
    if args.quick:
        lengths, CALLS = [VARYING_LENGTH], 3
    records = []
    for name, (fn, supports_varying) in candidates().items():
        for length in lengths:
            records.append(measure(name, fn, length, False))
            print(table(records[-1:]).splitlines()[-1], flush=True)
        if supports_varying and VARYING_LENGTH in lengths:
            records.append(measure(name, fn, VARYING_LENGTH, True))
            print(table(records[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(records))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scan_{BACKEND}.json"
    meta = {"backend": BACKEND, "batch": B, "width": P, "warmup": WARMUP, "calls": CALLS}
    if BACKEND == "torch":
        import torch

        meta["torch_threads"] = torch.get_num_threads()
    out.write_text(json.dumps({"meta": meta, "records": records}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
