"""The timing and memory harness of the layer benchmark: process measurements
(resident size, high-water mark, other processes' cores; Linux /proc), the
worker subprocesses (`worker`: the `one`, `kernel`, `mem` and `ref` modes of
`python -m benchmarks.layers`) and the parent side that runs them on a quiet
machine (`run_worker`, `run_quietly`, `measure_config`) and versions the code."""

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.layer_backends import KERNELS, STEPS, STREAMS, build_layer
from benchmarks.layer_config import (
    CALL_LIMIT_S, CAUSAL, CONTENDED_CORES, KERNEL_MODES, LAYER_PHASES, MEM_ENV, PHASE_BUDGET_S,
    QUIET_CORES, REF_PHASES, RESULT_PREFIX, ROOT, SOURCES, STEPS_PER_CALL, SUBPROCESS_LIMIT_S,
    TORCH_THREADS, WARMUP, B, H,
)


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


# -- worker -------------------------------------------------------------------


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
