"""Real-time factor of streaming presets, one stream and ten, on every backend.

```
.venv/bin/python -m benchmarks streaming [--presets speech_commands12_s5,speech_commands12_s4d]
    [--backends jax,tensorflow,torch] [--seconds 5] [--before /tmp/keras_ssm_before --before-commit C]
    [--out benchmarks/results]
```

For each backend and preset, in a fresh process each:

- one stream: `ClassifierStream` (batch 1, the state carried) fed chunks of
  10 ms and 100 ms;
- ten streams: `KeywordSpotter` with hops of the chunk and a window of ten
  hops, so ten staggered streams run as one batch (at 100 ms, the spotter's
  default 1 s window).

The real-time factor is seconds of audio per second of compute: the chunk's
duration over the median CPU time of a chunk (the process's, one
`__call__`, the first `WARM_UP` excluded: they compile), over `--seconds`
of noise or at most `BUDGET_SECONDS` of compute. CPU time rather than wall
time: on a shared machine the wall time counts the other jobs' turns.
`start s` is the CPU time of the stream's construction and first chunk:
the compilation.

`--before DIR` measures a checkout of an earlier commit in the same run
(`git archive <commit> | tar -x -C DIR`), alternating with this tree, each
worker with that tree's `keras_ssm` first on `PYTHONPATH`: before / after
are ratios within one run. Every worker runs on one thread (`THREADS`): a
stream's ops are too small to split, and idle threads spin on a busy
machine. Writes `results/streaming.{json,md}`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PRESETS = ("speech_commands12_s5", "speech_commands12_s4d")
BACKENDS = ("jax", "tensorflow", "torch")
CHUNKS_MS = (10, 100)
STREAMS = 10
WARM_UP = 5
BUDGET_SECONDS = 8.0  # of compute per measurement, at most
THREADS = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _factor(hop_seconds, seconds):
    return hop_seconds / float(np.median(seconds[WARM_UP:]))


def worker(preset, seconds):
    """`{"1x10": factor, ..., "start": {...}}` for `preset` on this backend."""
    import keras

    from keras_ssm import zoo
    from keras_ssm.models.keyword_spotter import KeywordSpotter
    from keras_ssm.models.streaming import ClassifierStream

    model = zoo.load(preset)
    rate = zoo.describe(preset)["input"]["sample_rate"]
    audio = (np.random.default_rng(0).normal(size=int(seconds * rate)) * 0.1).astype("float32")
    labels = ["_silence_"] + [f"word{i}" for i in range(1, model.num_classes)]
    result = {"backend": keras.backend.backend(), "preset": preset, "start": {}}
    for ms in CHUNKS_MS:
        chunk = rate * ms // 1000
        runs = {
            "1": lambda: ClassifierStream(model, chunk),
            str(STREAMS): lambda: KeywordSpotter(model, labels, rate, window_seconds=STREAMS * ms / 1000,
                                                 hop_seconds=ms / 1000, threshold=1.0),
        }
        for streams, make in runs.items():
            begin = time.process_time()
            stream, times = make(), []
            feed = (lambda x: stream(x[None, :, None])) if streams == "1" else stream
            for start in range(0, len(audio) - chunk + 1, chunk):
                before = time.process_time()
                feed(audio[start : start + chunk])
                times.append(time.process_time() - before)
                if len(times) == 1:
                    result["start"][f"{streams}x{ms}"] = time.process_time() - begin
                if len(times) > WARM_UP * 2 and sum(times[1:]) > BUDGET_SECONDS:
                    break
            result[f"{streams}x{ms}"] = _factor(ms / 1000, times)
    return result


def _run(tree, backend, preset, seconds):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=tree, **THREADS)
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", preset, str(seconds)], env=env,
                         capture_output=True, text=True, cwd=tree, check=False)
    if run.returncode:
        raise RuntimeError(f"{backend} {preset} in {tree} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _commit(tree):
    run = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False)
    return run.stdout.strip() or None


def _x(factor):
    return f"{factor:.1f}×" if factor < 10 else f"{factor:.0f}×"


def _goals(rows):
    """Which rows reach the goals: 100× for one stream and 10× for ten, in 10 ms chunks."""
    lines = []
    for row in rows:
        one, ten = row["after"]["1x10"], row["after"][f"{STREAMS}x10"]
        lines.append(f"- {row['preset']} on {row['backend']}: one stream {_x(one)} "
                     f"({'reaches' if one >= 100 else 'short of'} 100×), ten streams {_x(ten)} "
                     f"({'reaches' if ten >= 10 else 'short of'} 10×), in 10 ms chunks.")
    return lines


def _table(results, before, command):
    columns = [f"{n}x{ms}" for ms in CHUNKS_MS for n in (1, STREAMS)]
    names = {f"{n}x{ms}": f"{'one stream' if n == 1 else f'{n} streams'}, {ms} ms" for ms in CHUNKS_MS
             for n in (1, STREAMS)}
    lines = [
        "# Streaming: real-time factor per backend",
        "",
        f"Written by `{command}` (see `benchmarks/streaming.py` for the method): seconds of audio per second of "
        "compute (CPU time of the process), the median chunk after the first five (one stream: `ClassifierStream`, batch 1; ten streams: "
        "`KeywordSpotter` with hops of the chunk and a ten-hop window, ten staggered streams in one batch). "
        "Each worker a fresh process on one thread, on a shared 2-core CPU (x86_64, no GPU) that other jobs kept "
        "busy: the absolute numbers are noisy; before and after alternate within the run, so read the ratios.",
        "",
    ]
    if before:
        lines += [f"**before** is the tree at `{before['commit']}` (`{before['tree']}`), **after** this tree "
                  f"(`{results['commit']}` plus the working changes); cells read before → after (after / before).", ""]
    lines += ["| preset | backend | " + " | ".join(names[c] for c in columns) + " | start s (CPU; 1 stream, 10 ms) |",
              "|---" * (len(columns) + 3) + "|"]
    for row in results["rows"]:
        cells = []
        for c in columns:
            after = row["after"][c]
            if before:
                old = row["before"][c]
                cells.append(f"{_x(old)} → **{_x(after)}** ({after / old:.1f})")
            else:
                cells.append(_x(after))
        start = f"{row['after']['start']['1x10']:.1f}"
        if before:
            start = f"{row['before']['start']['1x10']:.1f} → {start}"
        lines.append(f"| {row['preset']} | {row['backend']} | " + " | ".join(cells) + f" | {start} |")
    lines += [
        "",
        "What a stream does (after): its step is compiled once per chunk length with the weights of its start "
        "as constants (`keras_ssm.models.streaming.compile_step`: `jax.jit`; TensorFlow XLA with a fixed input "
        "signature, called as a concrete function, the state packed into one tensor; torch a `torch.jit.trace` "
        "under `no_grad`), and S4D / DSS chunk passes take their kernel and powers of Λ̄ from the stream's "
        "`StreamConstants`, computed once per chunk length (a Toeplitz matrix up to 64 steps, no FFT).",
        "",
        "Goals (#speed: one stream ≥ 100×, the spotter's ten streams ≥ 10×, in 10 ms chunks), in this run:",
        "",
        *_goals(results["rows"]),
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--seconds", type=float, default=5.0, help="audio per measurement, at most")
    parser.add_argument("--before", default=None, help="a checkout of an earlier commit, measured alongside")
    parser.add_argument("--before-commit", default=None, help="the commit `--before` holds (it has no .git)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        for preset in args.presets.split(","):
            row = {"backend": backend, "preset": preset}
            if args.before:
                row["before"] = _run(os.path.abspath(args.before), backend, preset, args.seconds)
            row["after"] = _run(ROOT, backend, preset, args.seconds)
            print(json.dumps(row), flush=True)
            rows.append(row)
    command = "python -m benchmarks streaming " + " ".join(sys.argv[1:])
    results = {"command": command.strip(), "commit": _commit(ROOT), "rows": rows, "threads": THREADS,
               "load_average_at_end": os.getloadavg()[0]}
    before = None
    if args.before:
        before = {"tree": args.before, "commit": args.before_commit or _commit(args.before) or "unknown"}
        results["before"] = before
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "streaming.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    render(os.path.join(args.out, "streaming.json"))


def render(path=os.path.join(HERE, "results", "streaming.json")):
    """Rewrites `streaming.md` next to `path` from the results it holds."""
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    with open(os.path.join(os.path.dirname(path), "streaming.md"), "w", encoding="utf-8") as f:
        f.write(_table(results, results.get("before"), results["command"]))


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    print(json.dumps(worker(sys.argv[2], float(sys.argv[3]))))
