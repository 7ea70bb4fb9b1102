"""Speed and memory of S4DLayer, DSSLayer and S5Layer on JAX, TensorFlow and torch (CPU),
side by side with the reference implementations' algorithms (`benchmarks/references.py`).

    python -m benchmarks layers [--layers s4d,dss,s5,s5bi] [--backends jax,tensorflow,torch]
        [--lengths 1024,4096,16384] [--phases fwd,fwdbwd,step,kernel]
        [--policy float32|mixed_bfloat16] [--no-references] [--quick]

Every (layer, backend, L) runs in fresh subprocesses, so imports, compile
caches and memory peaks do not leak between configurations:
`python -m benchmarks.layers one ...` times the layer's forward,
forward+backward and streaming step, `... kernel ...` the S4D / DSS
convolution kernel alone and its peak memory, `... ref ...` the reference
implementation of the same layer in its own framework. Results are merged
into `results/layers.json` and rendered to `results/layers.md` (with the
targets of issue #7 checked) and `results/layers.png`; see README.md.
"""

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

B, H, STATE_DIM = 8, 128, 64
LAYERS = ("s4d", "dss", "s5", "s5bi")
BACKENDS = ("jax", "tensorflow", "torch")
LENGTHS = (1024, 4096, 16384)
QUICK_LENGTHS = (1024, 4096)
PHASES = ("fwd", "fwdbwd", "step", "kernel", "memory")
LAYER_PHASES = ("fwd", "fwdbwd", "step")  # measured by the `one` worker
REF_PHASES = ("fwd", "fwdbwd")
POLICIES = ("float32", "mixed_bfloat16")
# glibc: mmap every block over 64 KiB and give it back on free (see measure_memory).
MEM_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
STEPS_PER_CALL = 32  # streaming steps per timed call; the table shows the time of one
WARMUP = 2  # the first warm-up call is the "first call" (compilation included)
CALLS, CALLS_LONG, CALLS_QUICK = 7, 3, 3
LONG = 16384  # from this length on, CALLS_LONG timed calls
CALL_LIMIT_S = 30.0  # a warm-up call slower than this ends the phase as a timeout
PHASE_BUDGET_S = 40.0  # no further timed call once a phase has run this long
SUBPROCESS_LIMIT_S = 150.0
QUIET_CORES = 0.3  # before a worker, wait (up to --quiet-wait s) for other processes below this
CONTENDED_CORES = 0.5  # a run whose other processes used more is re-run (up to --retries times)
TORCH_THREADS = 2
NAMES = {"s4d": "S4D", "dss": "DSS-softmax", "s5": "S5", "s5bi": "S5 bidirectional"}
CAUSAL = ("s4d", "dss", "s5")  # layers with a streaming `step`
# Complex modes per feature in the S4D / DSS kernel (S4D keeps N/2 by conjugate symmetry).
KERNEL_MODES = {"s4d": STATE_DIM // 2, "dss": STATE_DIM}
ROOT = Path(__file__).resolve().parent.parent
# What the benchmarked layers run (hashed into each result's code version).
SOURCES = (
    "keras_ssm/ops/*.py", "keras_ssm/layers/base.py", "keras_ssm/layers/s4d.py",
    "keras_ssm/layers/dss.py", "keras_ssm/layers/s5.py", "keras_ssm/discretization.py",
    "keras_ssm/hippo.py", "benchmarks/references.py",
)
RESULTS = Path(__file__).resolve().parent / "results"
RESULT_PREFIX = "RESULT "


# -- process measurements (Linux /proc) ---------------------------------------


def _status_mb(field):
    """A `kB` field of /proc/self/status, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def rss_mb():
    """The current resident size of this process, MiB."""
    return _status_mb("VmRSS")


def hwm_mb():
    """The resident high-water mark since the last `reset_hwm`, MiB."""
    return _status_mb("VmHWM")


def reset_hwm():
    """Resets the resident high-water mark to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def max_rss_mb():
    """`ru_maxrss` of this process (its peak resident size since start), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_snapshot():
    """`(wall s, machine busy CPU s, this process's CPU s)` for `other_cores`."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    busy = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
    return time.perf_counter(), busy, usage.ru_utime + usage.ru_stime


def other_cores(start, end):
    """Cores used by other processes between two `cpu_snapshot`s."""
    wall = end[0] - start[0]
    return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / wall)


# -- the timed callables of each backend (worker side) --------------------------


def jax_steps(layer, x):
    """Jitted forward, and jitted value-and-grad of sum(y²) w.r.t. all
    trainable variables and the input, through `layer.stateless_call`."""
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    x = jnp.asarray(x)

    def forward(tv, ntv, inputs):
        return layer.stateless_call(tv, ntv, inputs)[0]

    def loss(tv, ntv, inputs):
        return jnp.sum(jnp.square(forward(tv, ntv, inputs)))

    fwd = jax.jit(forward)
    fwdbwd = jax.jit(jax.value_and_grad(loss, argnums=(0, 2)))
    return {
        "fwd": lambda: jax.block_until_ready(fwd(trainable, non_trainable, x)),
        "fwdbwd": lambda: jax.block_until_ready(fwdbwd(trainable, non_trainable, x)),
        "compile_fwdbwd": lambda: fwdbwd.lower(trainable, non_trainable, x).compile(),
    }


def tensorflow_steps(layer, x):
    """`tf.function` forward, and sum(y²) with a GradientTape over the
    trainable variables and the input (passed as an argument, so it is not
    folded into the graph as a constant)."""
    import tensorflow as tf

    x = tf.constant(x)
    variables = layer.trainable_variables

    @tf.function
    def fwd(inputs):
        return layer(inputs)

    @tf.function
    def fwdbwd(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.square(layer(inputs)))
        return loss, tape.gradient(loss, [*variables, inputs])

    return {
        "fwd": lambda: fwd(x),
        "fwdbwd": lambda: fwdbwd(x),
        "trace_fwdbwd": lambda: fwdbwd.get_concrete_function(x),
    }


def torch_steps(layer, x):
    """Eager forward under `no_grad`, and sum(y²) with `backward()` into the
    trainable variables and the input (gradients reset before each call)."""
    import torch

    x = torch.from_numpy(x)
    params = [v.value for v in layer.trainable_variables]

    def fwd():
        with torch.no_grad():
            return layer(x)

    def fwdbwd():
        for p in params:
            p.grad = None
        inputs = x.detach().requires_grad_()
        loss = torch.sum(torch.square(layer(inputs)))
        loss.backward()
        return loss, [p.grad for p in params], inputs.grad

    return {"fwd": fwd, "fwdbwd": fwdbwd}


def jax_kernel(layer, length):
    """`layer.kernel(length)` jitted over the variables' values (so they are
    arguments, not constants XLA could fold), compiled ahead of the call."""
    import jax
    import keras

    variables = layer.variables
    values = [v.value for v in variables]

    def kernel(vals):
        with keras.StatelessScope(state_mapping=list(zip(variables, vals))):
            return layer.kernel(length)

    compiled = jax.jit(kernel).lower(values).compile()
    return lambda: jax.block_until_ready(compiled(values))


def tensorflow_kernel(layer, length):
    """`layer.kernel(length)` in a `tf.function`, traced ahead of the call."""
    import tensorflow as tf

    kernel = tf.function(lambda: layer.kernel(length))
    kernel.get_concrete_function()
    return kernel


def torch_kernel(layer, length):
    """`layer.kernel(length)` eagerly under `no_grad`."""
    import torch

    def kernel():
        with torch.no_grad():
            return layer.kernel(length)

    return kernel


def _stream_inputs(layer, x):
    """The first STEPS_PER_CALL time steps of `x` and the layer's zero state."""
    length = x.shape[1]
    state = (
        layer.get_initial_state(B, length=length)
        if getattr(layer, "variant", None) == "softmax"
        else layer.get_initial_state(B)
    )
    return [x[:, k] for k in range(STEPS_PER_CALL)], state


def jax_stream(layer, x):
    """STEPS_PER_CALL calls of a jitted `layer.step` (over the variables'
    values, through a StatelessScope), carrying the state."""
    import jax
    import keras

    xs, state = _stream_inputs(layer, x)
    variables = layer.variables
    values = [v.value for v in variables]

    def step(vals, x_t, h):
        with keras.StatelessScope(state_mapping=list(zip(variables, vals))):
            return layer.step(x_t, h)

    step = jax.jit(step)

    def stream():
        h = state
        for x_t in xs:
            y, h = step(values, x_t, h)
        return jax.block_until_ready(y)

    return stream


def tensorflow_stream(layer, x):
    """STEPS_PER_CALL calls of `tf.function(layer.step)`, carrying the state."""
    import tensorflow as tf

    xs, state = _stream_inputs(layer, x)
    xs = [tf.constant(x_t) for x_t in xs]
    step = tf.function(layer.step)

    def stream():
        h = state
        for x_t in xs:
            y, h = step(x_t, h)
        return y

    return stream


def torch_stream(layer, x):
    """STEPS_PER_CALL eager calls of `layer.step` under `no_grad`."""
    import torch

    xs, state = _stream_inputs(layer, x)
    xs = [torch.from_numpy(np.ascontiguousarray(x_t)) for x_t in xs]

    def stream():
        h = state
        with torch.no_grad():
            for x_t in xs:
                y, h = layer.step(x_t, h)
        return y

    return stream


STEPS = {"jax": jax_steps, "tensorflow": tensorflow_steps, "torch": torch_steps}
STREAMS = {"jax": jax_stream, "tensorflow": tensorflow_stream, "torch": torch_stream}
KERNELS = {"jax": jax_kernel, "tensorflow": tensorflow_kernel, "torch": torch_kernel}


# -- worker -------------------------------------------------------------------


def build_layer(name, length):
    """The benchmarked layer (the same system as its reference), built for `(B, length, H)`."""
    from benchmarks.references import our_layer

    layer = our_layer(name, state_dim=STATE_DIM, seed=0)
    layer.build((B, length, H))
    return layer


def all_finite(outputs):
    """Whether every tensor in the (nested) outputs is finite."""
    import keras

    return all(
        # (via float32: TensorFlow cannot hand a bfloat16 tensor to numpy)
        bool(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(t, "float32"))).all())
        for t in keras.tree.flatten(outputs)
    )


def time_calls(fn, calls, warmup=WARMUP):
    """`warmup` untimed calls, then up to `calls` timed ones; wall ms.

    A warm-up call slower than CALL_LIMIT_S ends the phase as a timeout;
    timed calls stop early once the phase has run PHASE_BUDGET_S (at least
    one is taken). `other_cores` is measured over the timed calls.
    """
    start = time.perf_counter()
    warmup_ms = []
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        warmup_ms.append((time.perf_counter() - t0) * 1e3)
        if warmup_ms[-1] > CALL_LIMIT_S * 1e3:
            return {"status": "timeout", "warmup_ms": warmup_ms}
    times, cpu_start = [], cpu_snapshot()
    while len(times) < calls and (not times or time.perf_counter() - start < PHASE_BUDGET_S):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "status": "ok" if all_finite(out) else "non-finite",
        "warmup_ms": warmup_ms,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "calls": len(times),
        "other_cores": other_cores(cpu_start, cpu_snapshot()),
    }


def emit(record):
    """One result line on stdout, read back by the parent process."""
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def measure_layer(layer, x, phases, calls, backend):
    """The `one` worker: times each of `phases` (fwd, fwdbwd, step) in turn."""
    steps = STEPS[backend](layer, x)
    if "step" in phases:
        steps["step"] = STREAMS[backend](layer, x)
    for phase in phases:
        loadavg = os.getloadavg()[0]
        result = time_calls(steps[phase], calls)
        if phase == "step":  # per streaming step
            for key in ("median_ms", "min_ms"):
                result[key] /= STEPS_PER_CALL
            result["warmup_ms"] = [ms / STEPS_PER_CALL for ms in result["warmup_ms"]]
        emit({"phase": phase, "loadavg": loadavg, "max_rss_mb": max_rss_mb(), **result})


def measure_reference(name, x, phases, calls):
    """The `ref` worker: the reference implementation of `name` in its own
    framework, with the parameters of our layer (same system), timed like
    `measure_layer`; also records how far its output is from our layer's."""
    import keras

    from benchmarks import references

    layer = build_layer(name, x.shape[1])
    params = references.reference_params(name, layer)
    small = x[:2, :256]
    ours = keras.ops.convert_to_numpy(layer(small))
    theirs = references.reference_forward(name, params, small)
    emit({"phase": "check", "max_abs_diff": float(np.max(np.abs(ours - theirs))),
          "max_abs": float(np.max(np.abs(theirs)))})
    steps = references.reference_steps(name, params, x)
    emit({"phase": "build", "rss_after_build_mb": rss_mb()})
    if phases == ["memory"]:
        measure_memory(steps)
        return
    for phase in phases:
        loadavg = os.getloadavg()[0]
        result = time_calls(steps[phase], calls)
        emit({"phase": phase, "loadavg": loadavg, "max_rss_mb": max_rss_mb(), **result})


def measure_memory(steps):
    """The memory one fwd+bwd call adds at run time, compilation excluded.

    JAX: XLA's buffer assignment of the compiled call (temporaries +
    outputs), exact (XLA's CPU runtime keeps freed buffers, so resident size
    cannot see a second call). TensorFlow: traced ahead, then the resident
    high-water mark over its first run (it too keeps what a run allocated).
    torch: the call runs once (lazy initialisation), then the high-water mark
    over the second; the `mem` worker runs with glibc's malloc told to give
    large blocks back on free (MEM_ENV), so what the first call freed is not
    still resident and hiding the second call's peak.
    """
    loadavg = os.getloadavg()[0]
    if "compile_fwdbwd" in steps:
        analysis = steps["compile_fwdbwd"]().memory_analysis()
        used = analysis.temp_size_in_bytes + analysis.output_size_in_bytes
        emit({"phase": "memory", "loadavg": loadavg, "run_peak_mb": used / 2**20,
              "method": "xla memory_analysis", "status": "ok"})
        return
    fn = steps["fwdbwd"]
    if "trace_fwdbwd" in steps:
        steps["trace_fwdbwd"]()  # TensorFlow keeps what its first call allocated: trace, then run once
    else:
        fn()
    reset_hwm()
    before = rss_mb()
    out = fn()
    emit({"phase": "memory", "loadavg": loadavg, "run_peak_mb": hwm_mb() - before,
          "method": "resident high-water mark, " + ("first run after tracing" if "trace_fwdbwd" in steps else "second call"),
          "status": "ok" if all_finite(out) else "non-finite"})


def measure_kernel(layer, length, calls, backend):
    """The `kernel` worker: the kernel's peak memory on its first run after
    compilation (resident high-water mark minus the RSS before), then its time."""
    loadavg = os.getloadavg()[0]
    t0 = time.perf_counter()
    kernel = KERNELS[backend](layer, length)
    prepare_ms = (time.perf_counter() - t0) * 1e3
    reset_hwm()
    before = rss_mb()
    t0 = time.perf_counter()
    kernel()
    first_ms = (time.perf_counter() - t0) * 1e3
    peak_mb = hwm_mb() - before
    result = time_calls(kernel, calls, warmup=1)
    emit({
        "phase": "kernel", "loadavg": loadavg, "prepare_ms": prepare_ms,
        "first_run_ms": first_ms, "peak_mb": peak_mb, **result,
    })


def worker(args):
    """Entry point of the `one`, `kernel` and `ref` subprocesses."""
    os.environ["KERAS_BACKEND"] = args.backend
    if args.backend == "torch":
        import torch

        torch.set_num_threads(TORCH_THREADS)
    import keras

    keras.config.set_dtype_policy(args.policy)
    x = np.random.default_rng(0).standard_normal((B, args.L, H), dtype=np.float32)
    if args.mode == "ref":
        measure_reference(args.layer, x, args.phases, args.calls)
        return
    layer = build_layer(args.layer, args.L)
    emit({"phase": "build", "rss_after_build_mb": rss_mb()})
    if args.mode == "mem":
        measure_memory(STEPS[args.backend](layer, x))
    elif args.mode == "one":
        measure_layer(layer, x, args.phases, args.calls, args.backend)
    else:
        measure_kernel(layer, args.L, args.calls, args.backend)


# -- parent: running the workers ----------------------------------------------


def _text(stream):
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def run_worker(mode, layer, backend, length, calls, phases, policy="float32"):
    """Runs one worker subprocess; returns `{phase: result}` for `phases`,
    with a `timeout` / `error` entry for any phase it did not report."""
    cmd = [
        sys.executable, "-m", "benchmarks.layers", mode, "--layer", layer,
        "--backend", backend, "--L", str(length), "--calls", str(calls), "--policy", policy,
    ]
    if mode not in ("kernel", "mem"):
        cmd += ["--phases", ",".join(phases)]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if "memory" in phases:
        env.update(MEM_ENV)
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_LIMIT_S
        )
        stdout, stderr, failure = proc.stdout, proc.stderr, "error" if proc.returncode else None
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, failure = _text(exc.stdout), _text(exc.stderr), "timeout"
    lines = [
        json.loads(line[len(RESULT_PREFIX):])
        for line in stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    build = next((line for line in lines if line["phase"] == "build"), {})
    check = next((line for line in lines if line["phase"] == "check"), None)
    results = {line.pop("phase"): line for line in lines if line["phase"] not in ("build", "check")}
    for phase in phases:
        if phase not in results:
            results[phase] = {"status": failure or "error", "stderr_tail": stderr[-2000:]}
        results[phase]["rss_after_build_mb"] = build.get("rss_after_build_mb")
        if check:
            results[phase]["check"] = check
    return results


def wait_for_quiet(max_wait_s):
    """Waits up to `max_wait_s` for other processes to use < QUIET_CORES
    (measured over 1 s windows); returns `(waited s, their last cores)`."""
    start = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(1.0)
        cores = other_cores(before, cpu_snapshot())
        waited = time.perf_counter() - start
        if cores < QUIET_CORES or waited >= max_wait_s:
            return waited, cores


def contention(results):
    """The most cores other processes used during any phase's timed calls."""
    return max((r.get("other_cores", 0.0) for r in results.values()), default=0.0)


def run_quietly(mode, layer, backend, length, calls, phases, quiet_wait_s, retries, policy="float32"):
    """`run_worker` on a quiet machine: waits for quiet first, and re-runs a
    contended run up to `retries` times, keeping the least contended one."""
    attempts = []
    for _ in range(1 + retries):
        waited, cores = wait_for_quiet(quiet_wait_s)
        results = run_worker(mode, layer, backend, length, calls, phases, policy)
        for result in results.values():
            result.update(quiet_wait_s=waited, cores_before=cores)
        attempts.append(results)
        if contention(results) <= CONTENDED_CORES:
            break
    best = min(attempts, key=contention)
    for result in best.values():
        result["attempts"] = len(attempts)
    return best


def code_version():
    """`(id, description)` of the sources the benchmarked layers run: a hash
    of their contents, plus the commit and which of them changed since it."""
    paths = sorted(p for pattern in SOURCES for p in ROOT.glob(pattern))
    digest = hashlib.sha1()
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(
        [*git, "status", "--porcelain", "--", *map(str, paths)], capture_output=True, text=True
    )
    changed = [line[3:] for line in status.stdout.splitlines()]
    return digest.hexdigest()[:12], {"commit": commit.stdout.strip(), "changed": changed}


def measure_config(layer, backend, length, calls, args):
    """All requested phases of one (layer, backend, L), in fresh subprocesses.
    `backend` "reference" runs the reference implementation instead."""
    quiet = (args.quiet_wait, args.retries, args.policy)
    if backend == "reference":
        from benchmarks.references import FRAMEWORK

        phases = [p for p in args.phases if p in REF_PHASES]
        results = run_quietly("ref", layer, FRAMEWORK[layer], length, calls, phases, *quiet) if phases else {}
        if "memory" in args.phases:
            results.update(run_worker("ref", layer, FRAMEWORK[layer], length, 1, ["memory"], args.policy))
        return results
    results = {}
    if "memory" in args.phases:
        results.update(run_worker("mem", layer, backend, length, 1, ["memory"], args.policy))
    layer_phases = [p for p in args.phases if p in LAYER_PHASES and (p != "step" or layer in CAUSAL)]
    if layer_phases:
        results.update(run_quietly("one", layer, backend, length, calls, layer_phases, *quiet))
    if "kernel" in args.phases and layer in KERNEL_MODES:
        results.update(run_quietly("kernel", layer, backend, length, calls, ["kernel"], *quiet))
        results["kernel"]["naive_mb"] = H * KERNEL_MODES[layer] * length * 8 / 2**20
    return results


# -- results ------------------------------------------------------------------


def config_key(layer, backend, length, policy="float32"):
    key = f"{layer}/{backend}/{length}"
    return key if policy == "float32" else f"{key}/{policy}"


def load_results(path):
    if path.exists():
        return json.loads(path.read_text())
    return {"configs": {}, "code_versions": {}}


def merge(store, layer, backend, length, policy, phase_results, code_id, when):
    """Stores the new phase results of a config, keeping its other phases."""
    entry = store["configs"].setdefault(
        config_key(layer, backend, length, policy),
        {"layer": layer, "backend": backend, "L": length, "policy": policy},
    )
    entry.update(B=B, H=H, state_dim=STATE_DIM)
    for phase, result in phase_results.items():
        entry[phase] = {**result, "code": code_id, "when": when}


def _median(entry, phase):
    result = entry.get(phase) if entry else None
    return result.get("median_ms") if result else None


def _first(entry, phase="fwdbwd"):
    result = entry.get(phase) if entry else None
    return result["warmup_ms"][0] if result and result.get("warmup_ms") else None


def _run_mb(entry):
    """The memory one fwd+bwd call adds at run time (the `mem` worker)."""
    result = entry.get("memory") if entry else None
    return result.get("run_peak_mb") if result else None


def _added_mb(entry):
    """Peak resident size minus the size after build: what the run added,
    compilation included."""
    if not entry:
        return None
    timed = [entry[p] for p in ("fwd", "fwdbwd") if p in entry and "max_rss_mb" in entry[p]]
    build = next((r["rss_after_build_mb"] for r in timed if r.get("rss_after_build_mb")), None)
    if not timed or build is None:
        return None
    return max(r["max_rss_mb"] for r in timed) - build


def _ratio(a, b):
    return None if a is None or not b else a / b


def _ms(result):
    """A phase's median cell: ms, or its status when it has no timing."""
    if result is None:
        return "–"
    if "median_ms" not in result:
        return result["status"]
    ms = result["median_ms"]
    cell = f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"
    return cell if result["status"] == "ok" else f"{cell} ({result['status']})"


def _num(value, digits=0):
    return "–" if value is None else f"{value:.{digits}f}"


def _backend_cell(entry):
    if entry["backend"] != "reference":
        return entry["backend"] + ("" if entry.get("policy", "float32") == "float32" else " bf16")
    from benchmarks.references import FRAMEWORK

    return f"**reference** ({FRAMEWORK[entry['layer']]})"


def table_row(entry, store):
    """One markdown row of a stored config."""
    fwd, fwdbwd, kernel, step = (entry.get(p) for p in ("fwd", "fwdbwd", "kernel", "step"))
    first = " / ".join(
        f"{r['warmup_ms'][0]:.0f}" if r.get("warmup_ms") else r["status"] for r in (fwd, fwdbwd) if r
    ) or "–"
    ref = store["configs"].get(config_key(entry["layer"], "reference", entry["L"]))
    is_ref = entry["backend"] == "reference"
    ratios = [
        None if is_ref else _ratio(_median(entry, "fwdbwd"), _median(ref, "fwdbwd")),
        None if is_ref else _ratio(_first(entry), _first(ref)),
        None if is_ref else _ratio(_run_mb(entry), _run_mb(ref)),
    ]
    contention = max(
        (r["other_cores"] for r in (fwd, fwdbwd, kernel, step) if r and "other_cores" in r), default=None
    )
    cells = [
        NAMES[entry["layer"]], _backend_cell(entry), str(entry["L"]), _ms(fwd), _ms(fwdbwd), first,
        _num(_added_mb(entry)), _num(_run_mb(entry)), _ms(kernel), _num(kernel.get("peak_mb") if kernel else None, 1),
        _num(step["median_ms"] * 1e3 if step and "median_ms" in step else None),
        *(_num(r, 2) for r in ratios), _num(contention, 2),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| layer | backend | L | fwd ms | fwd+bwd ms | first call ms (fwd / fwd+bwd) | peak − build MB "
    "| fwd+bwd run MB | kernel ms | kernel peak MB | step µs | fwd+bwd ÷ ref | first call ÷ ref "
    "| run MB ÷ ref | other cores |\n" + "|---" * 15 + "|"
)


def _order(entry):
    backends = (*BACKENDS, "reference")
    policy = POLICIES.index(entry.get("policy", "float32"))
    return LAYERS.index(entry["layer"]), entry["L"], policy, backends.index(entry["backend"])


def render_table(store):
    """The markdown table of every stored config, by layer, L, backend."""
    rows = [table_row(e, store) for e in sorted(store["configs"].values(), key=_order)]
    return "\n".join([HEADER, *rows])


# -- the targets of issue #7 ---------------------------------------------------

# (layer, backend) -> the largest fwd+bwd ÷ reference asked for.
SPEED_TARGETS = {("s5", "jax"): 0.5, ("s5bi", "jax"): 0.5, ("s4d", "torch"): 0.25, ("dss", "torch"): 0.25}
MAIN_L = 4096


def _get(store, layer, backend, length, policy="float32"):
    return store["configs"].get(config_key(layer, backend, length, policy))


def targets(store):
    """`[(target, measured, limit, met)]` for every target the store can check."""
    rows = []
    lengths = sorted({e["L"] for e in store["configs"].values()})

    def add(what, value, limit):
        if value is not None:
            rows.append((what, value, limit, value <= limit))

    for (layer, backend), limit in SPEED_TARGETS.items():
        for length in lengths:
            ours, ref = _get(store, layer, backend, length), _get(store, layer, "reference", length)
            add(f"{NAMES[layer]} {backend} fwd+bwd ÷ reference, L {length}",
                _ratio(_median(ours, "fwdbwd"), _median(ref, "fwdbwd")), limit)
    for layer in LAYERS:
        for length in lengths:
            times = {b: _median(_get(store, layer, b, length), "fwdbwd") for b in BACKENDS}
            times = {b: t for b, t in times.items() if t}
            if len(times) == len(BACKENDS):
                slow, fast = max(times, key=times.get), min(times, key=times.get)
                add(f"{NAMES[layer]} slowest ({slow}) ÷ fastest ({fast}) backend, L {length}",
                    times[slow] / times[fast], 2.0)
    for layer in LAYERS:
        ref = _get(store, layer, "reference", MAIN_L)
        for backend in BACKENDS:
            add(f"{NAMES[layer]} {backend} first fwd+bwd call ÷ reference's, L {MAIN_L}",
                _ratio(_first(_get(store, layer, backend, MAIN_L)), _first(ref)), 0.5)
    long_l = max(lengths, default=0)
    for layer in LAYERS:
        ref = _get(store, layer, "reference", long_l)
        for backend in BACKENDS:
            add(f"{NAMES[layer]} {backend} fwd+bwd run memory ÷ reference's, L {long_l}",
                _ratio(_run_mb(_get(store, layer, backend, long_l)), _run_mb(ref)), 0.5)
    if MAIN_L in lengths and long_l > MAIN_L:
        growth = long_l / MAIN_L * math.log(long_l) / math.log(MAIN_L)
        for layer in LAYERS:
            for backend in BACKENDS:
                add(f"{NAMES[layer]} {backend} fwd+bwd L {long_l} ÷ L {MAIN_L} (L log L: {growth:.2f})",
                    _ratio(_median(_get(store, layer, backend, long_l), "fwdbwd"),
                           _median(_get(store, layer, backend, MAIN_L), "fwdbwd")), growth)
    for layer in LAYERS:
        for backend in BACKENDS:
            for length in lengths:
                bf16 = _median(_get(store, layer, backend, length, "mixed_bfloat16"), "fwdbwd")
                add(f"{NAMES[layer]} {backend} mixed_bfloat16 ÷ float32 fwd+bwd, L {length}",
                    _ratio(bf16, _median(_get(store, layer, backend, length), "fwdbwd")), 1.0)
    return rows


def render_targets(store):
    rows = targets(store)
    met = sum(row[3] for row in rows)
    lines = [
        f"{met} of {len(rows)} targets met.\n",
        "| target | measured | at most | met |",
        "|---|---|---|---|",
        *(f"| {what} | {value:.2f} | {limit:.2f} | {'yes' if ok else '**no**'} |"
          for what, value, limit, ok in rows),
    ]
    return "\n".join(lines)


def write_markdown(store, path):
    path.write_text(
        "# keras_ssm layer benchmark (CPU)\n\n"
        f"B = {B}, H = {H}, state_dim = {STATE_DIM}, float32 unless marked bf16 (`mixed_bfloat16`); "
        f"medians after {WARMUP} warm-up calls ({CALLS} timed calls, {CALLS_LONG} at L ≥ {LONG} or "
        "with `--quick`). MB = MiB. **reference** rows: the official repositories' algorithms "
        "re-implemented in their own framework (`benchmarks/references.py`) with the same "
        "parameters, in the same run; the ÷ ref columns divide by them. step µs: one streaming "
        f"`layer.step` of the whole batch (median over calls of {STEPS_PER_CALL} steps). fwd+bwd run "
        "MB: the resident memory one fwd+bwd call adds at run time, compilation excluded (its second "
        "call in a fresh process); peak − build: the process's peak minus its size once built, "
        "compilation included. other cores: "
        "cores other processes used during the timed calls. Written by `python -m benchmarks "
        "layers`; the columns are described in `benchmarks/README.md`, the raw numbers (min, "
        "warm-up calls, load, code version) are in `layers.json`.\n\n"
        "## Targets (issue #7)\n\n" + render_targets(store) + "\n\n"
        "## Measurements\n\n" + render_table(store) + "\n\n"
        "![fwd+bwd time against L](layers.png)\n"
    )


def plot(store, path):
    """Log-log fwd+bwd time against L, one panel per backend, the references
    dashed in every panel (they run in their own framework)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BACKENDS), figsize=(15, 4.5), sharey=True)
    colors = dict(zip(LAYERS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))

    def series(layer, backend, policy="float32"):
        points = sorted(
            (e["L"], _median(e, "fwdbwd")) for e in store["configs"].values()
            if e["layer"] == layer and e["backend"] == backend and e.get("policy", "float32") == policy
            and _median(e, "fwdbwd")
        )
        return [p[0] for p in points], [p[1] for p in points]

    for ax, backend in zip(axes, BACKENDS):
        for layer in LAYERS:
            for source, style, label in ((backend, "-o", NAMES[layer]), ("reference", "--", f"{NAMES[layer]} reference")):
                xs, ys = series(layer, source)
                if xs:
                    ax.plot(xs, ys, style, color=colors[layer], label=label)
            xs, ys = series(layer, backend, "mixed_bfloat16")
            if xs:
                ax.plot(xs, ys, ":^", color=colors[layer], label=f"{NAMES[layer]} bf16")
        ax.set(xscale="log", yscale="log", title=f"keras_ssm on {backend}", xlabel="sequence length L")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("forward + backward, ms (B 8, H 128)")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line -------------------------------------------------------------


def _list(kind, allowed=None):
    """An argparse type: a comma-separated list of `kind`, within `allowed`."""

    def parse(text):
        values = [kind(v) for v in text.split(",") if v]
        if allowed is not None and not set(values) <= set(allowed):
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {allowed}")
        return values

    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks layers", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="mode")
    for mode in ("one", "kernel", "ref", "mem"):
        w = sub.add_parser(mode, help=f"worker subprocess ({mode})")
        w.add_argument("--layer", choices=LAYERS, required=True)
        w.add_argument("--backend", choices=BACKENDS, required=True)
        w.add_argument("--L", type=int, required=True)
        w.add_argument("--calls", type=int, default=CALLS)
        w.add_argument("--policy", choices=POLICIES, default="float32")
        if mode != "kernel":
            w.add_argument("--phases", type=_list(str, PHASES), default=list(REF_PHASES))
    sub.add_parser("render", help="re-render layers.md and layers.png from layers.json")
    parser.add_argument("--layers", type=_list(str, LAYERS), default=list(LAYERS), help="s4d,dss,s5,s5bi")
    parser.add_argument(
        "--backends", type=_list(str, BACKENDS), default=list(BACKENDS), help="jax,tensorflow,torch"
    )
    parser.add_argument("--lengths", type=_list(int), default=None, help="default 1024,4096,16384")
    parser.add_argument(
        "--phases", type=_list(str, PHASES), default=list(PHASES), help="fwd,fwdbwd,step,kernel,memory"
    )
    parser.add_argument("--policy", choices=POLICIES, default="float32", help="Keras dtype policy")
    parser.add_argument(
        "--no-references", dest="references", action="store_false",
        help="skip the reference implementations (run with float32 only)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"L {QUICK_LENGTHS}, {CALLS_QUICK} timed calls"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="max s to wait for a quiet machine"
    )
    parser.add_argument("--retries", type=int, default=1, help="re-runs of a contended worker")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    return parser.parse_args(argv)


def calls_for(length, quick):
    """Timed calls per phase at this length."""
    if quick:
        return CALLS_QUICK
    return CALLS_LONG if length >= LONG else CALLS


def render(store, out):
    write_markdown(store, out / "layers.md")
    try:
        plot(store, out / "layers.png")
    except ImportError:
        print("matplotlib is not installed: no layers.png (pip install -e .[plot])")


def run_suite(args):
    """Measures every requested config, saving after each; prints the tables."""
    lengths = args.lengths or list(QUICK_LENGTHS if args.quick else LENGTHS)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "layers.json"
    store = load_results(json_path)
    start = time.perf_counter()
    with_refs = args.references and args.policy == "float32"
    for layer in args.layers:
        for length in lengths:
            for backend in [*args.backends, *(["reference"] if with_refs else [])]:
                t0 = time.perf_counter()
                code_id, code = code_version()  # the sources may change during a long run
                store["code_versions"][code_id] = code
                results = measure_config(layer, backend, length, calls_for(length, args.quick), args)
                when = time.strftime("%Y-%m-%dT%H:%M:%S")
                merge(store, layer, backend, length, args.policy, results, code_id, when)
                json_path.write_text(json.dumps(store, indent=1) + "\n")
                status = ", ".join(f"{p} {r['status']}" for p, r in results.items())
                elapsed = time.perf_counter() - t0
                print(f"{layer} {backend} L={length} {args.policy}: {elapsed:.0f} s ({status})", flush=True)
    render(store, args.out)
    print(render_targets(store))
    print(f"total {time.perf_counter() - start:.0f} s; wrote {args.out}/layers.{{json,md,png}}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.mode is None:
        run_suite(args)
    elif args.mode == "render":
        render(load_results(args.out / "layers.json"), args.out)
    else:
        worker(args)


if __name__ == "__main__":
    main()
