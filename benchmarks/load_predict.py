"""A new user's first minute: `zoo.load` and the first `predict` of every preset, in a fresh process.

```
.venv/bin/python -m benchmarks load_predict [--presets fsdd_s5,...] [--backends jax,tensorflow,torch]
    [--repo PATH] [--label after] [--timeout 240] [--out benchmarks/results]
.venv/bin/python -m benchmarks load_predict --render     # load_predict.md from load_predict.json
```

For each backend and preset a fresh Python process (`KERAS_BACKEND` set, the
cwd and the front of `PYTHONPATH` at `--repo`, so another checkout, e.g. a
`git worktree` of an older commit, can be measured with this script) times,
one after another:

- `import keras_ssm` (Keras and the backend's framework included);
- `zoo.load(name)` (files verified, model built, weights read);
- the first `model.predict(x, verbose=0)`: tracing / compilation included,
  which is what a preset's stored `compile_config` (`jit_compile`) decides;
- a second `model.predict(x, verbose=0)` on the same input.

`x` is one realistic input per preset, batch 1, made from `metadata["input"]`:
audio is 1 s of float32 uniform noise in [-1, 1) at the preset's sample rate
(`clip_seconds` if stated); token presets get ids in [1, vocab_size) at the
length the preset was trained at (`data.options.max_length`); pixel presets get
random 8-bit pixels at the stated fixed shape, normalised as the metadata's
preprocessing says. Each phase is reported as soon as it ends, so a process
killed at `--timeout` (its whole process group) or one that crashes keeps the
phases it finished, and the failed phase is recorded as `timeout` / `error`
with the last line of its stderr, never as a number.

Runs are stored by `--label` in `results/load_predict.json` (re-running a
label replaces only the (preset, backend) cells it measured); the md table
puts the labels side by side and, for `before` and `after`, the ratio
after / before. The 1-minute load average is recorded before and after every
process: the machine this was written on has 2 cores shared with other
work, so the timings are noisy (single runs, not medians).
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BACKENDS = ("jax", "tensorflow", "torch")
PHASES = ("import", "load", "predict_1", "predict_2")
PREFIX = "LOAD_PREDICT "

# The child runs with `python -c` so that it needs nothing from this file in the
# measured checkout (an older commit has no benchmarks/load_predict.py).
CHILD = r'''
import json, os, sys, time
t0 = time.perf_counter()
def emit(phase, **record):
    print("LOAD_PREDICT " + json.dumps({"phase": phase, **record}), flush=True)
start = time.perf_counter()
import keras_ssm
from keras_ssm import zoo
import keras
emit("import", seconds=time.perf_counter() - start, keras_ssm_file=keras_ssm.__file__,
     keras=keras.__version__, backend=keras.backend.backend())
import numpy as np
name = sys.argv[1]
meta = zoo.describe(name)
spec = meta["input"]
rng = np.random.default_rng(0)
shape = spec.get("shape") or [None]
if "vocab_size" in spec:
    length = ((meta.get("data") or {}).get("options") or {}).get("max_length") or shape[0] or 1024
    x = rng.integers(1, spec["vocab_size"], size=(1, length)).astype(spec.get("dtype", "int32"))
    kind = f"token ids in [1, {spec['vocab_size']}) x {length}"
elif "sample_rate" in spec:
    length = int(round(spec["sample_rate"] * spec.get("clip_seconds", 1.0)))
    x = rng.uniform(-1.0, 1.0, size=(1, length, *shape[1:])).astype("float32")
    kind = f"audio {length} samples at {spec['sample_rate']} Hz"
else:
    pixels = rng.integers(0, 256, size=(1, *shape)).astype("float32")
    prep = spec.get("preprocessing", "")
    x = ((pixels - 122.6) / 61.0 if "122.6" in prep else pixels / 127.5 - 1.0).astype("float32")
    kind = f"pixels {list(shape)}"
start = time.perf_counter()
model = zoo.load(name)
emit("load", seconds=time.perf_counter() - start, input=kind, input_shape=list(x.shape),
     compiled=bool(getattr(model, "compiled", False)),
     jit_compile=str(getattr(model, "jit_compile", None)))
for phase in ("predict_1", "predict_2"):
    start = time.perf_counter()
    y = model.predict(x, verbose=0)
    seconds = time.perf_counter() - start
    y = y["logits"] if isinstance(y, dict) and "logits" in y else y
    first = np.asarray(keras.tree.flatten(y)[0])
    emit(phase, seconds=seconds, output_shape=list(first.shape), finite=bool(np.isfinite(first).all()))
emit("total", seconds=time.perf_counter() - t0)
'''


def _text(stream):
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def _last_line(text):
    """The last informative line of a stderr: the exception's line where there is one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        # An exception line is `Name: message` / `package.Name: message`; later lines
        # may be interpreter shutdown noise.
        head = line.split(":", 1)[0]
        if ":" in line and head.replace(".", "").replace("_", "").isalnum() and head[-1:] != ")" and (
            head.endswith("Error") or head.endswith("Exception") or head.endswith("Exit")
            or head.endswith("Interrupt") or "." in head
        ):
            if "Exception encountered when calling" in line and index + 1 < len(lines):
                # Keras wraps a layer's exception: its own message is on the next line.
                line += " " + lines[index + 1].replace("\x1b[1m", "").replace("\x1b[0m", "")
            return line[:500]
    return lines[-1][:500] if lines else ""


def run_one(repo, preset, backend, timeout):
    """One fresh process for (preset, backend); returns `{phase: result}` plus metadata."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])
    loadavg_before = os.getloadavg()
    start = time.perf_counter()
    # Its own session, so a timeout kills the whole group (torch.compile starts worker processes).
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, preset], cwd=repo, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        failure = "error" if proc.returncode else None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        failure = "timeout"
    wall = time.perf_counter() - start
    records = [json.loads(line[len(PREFIX):]) for line in _text(stdout).splitlines() if line.startswith(PREFIX)]
    phases = {record.pop("phase"): record for record in records}
    result = {
        "wall_s": wall, "returncode": proc.returncode,
        "loadavg_before": loadavg_before[0], "loadavg_after": os.getloadavg()[0],
    }
    missing = [phase for phase in PHASES if phase not in phases]
    for phase in PHASES:
        if phase in phases:
            result[phase] = phases[phase]
        elif phase == missing[0]:
            entry = {"status": failure or "error", "after_s": round(wall, 1)}
            if failure != "timeout" or stderr:
                entry["last_line"] = _last_line(_text(stderr))
                entry["stderr_tail"] = _text(stderr)[-1500:]
            result[phase] = entry
        else:
            result[phase] = {"status": "not run"}
    if not missing and failure:
        result["status"] = f"{failure} after all phases: {_last_line(_text(stderr))}"
    return result


def repo_info(repo):
    git = ["git", "--no-optional-locks", "-C", str(repo)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    subject = subprocess.run([*git, "log", "-1", "--format=%s"], capture_output=True, text=True).stdout.strip()
    return {"repo": str(repo), "commit": commit, "subject": subject[:120]}


def _versions():
    from importlib import metadata

    out = {}
    for package in ("keras", "jax", "tensorflow", "tensorflow-cpu", "torch", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


# -- rendering ----------------------------------------------------------------


def _cell(result, phase):
    entry = (result or {}).get(phase)
    if entry is None:
        return "—"
    if "seconds" in entry:
        return f"{entry['seconds']:.2f}"
    return entry.get("status", "?")


def _seconds(result, phase):
    entry = (result or {}).get(phase) or {}
    return entry.get("seconds")


def _ratio(after, before, phase):
    a, b = _seconds(after, phase), _seconds(before, phase)
    if a is not None and b is not None and b > 0:
        return f"{a / b:.2f}"
    status = ((before or {}).get(phase) or {}).get("status")
    if a is not None and status in ("timeout", "error"):
        return f"(before {status})"
    return "—"


def render(store, out):
    """`load_predict.md` from the store."""
    runs = store.get("runs", {})
    labels = [label for label in ("before", "after") if label in runs] + sorted(
        label for label in runs if label not in ("before", "after"))
    lines = [
        "# `zoo.load` and the first `predict` of every preset, fresh process per cell",
        "",
        "Generated by `python -m benchmarks load_predict` (`benchmarks/load_predict.py`). Seconds, one run",
        "each: `import keras_ssm`, `zoo.load(name)`, the first `model.predict(x)` (tracing / compilation",
        "included) and a second `predict(x)`, batch 1 (audio 1 s of noise at the preset's rate; tokens at the",
        "trained length; 1,024 pixels). `timeout` / `error`: the process was killed at the limit or crashed",
        "in that phase (its last stderr line is in the JSON and below); `not run`: a phase after a failed one;",
        "`not measured`: the cell was not part of that label's run.",
        "",
        "**Noisy**: measured on a 2-core machine shared with other engineers' test runs (the 1-minute load",
        "average at each process's start is the last column; above 2 the cores were oversubscribed); single",
        "runs, so read differences under ~2× as noise. Compilation on the first predict is far above it.",
        "",
    ]
    for label in labels:
        info = runs[label]["info"]
        dates = sorted({i["date"] for i in runs[label].get("invocations") or [info]})
        loads = [r["loadavg_before"] for cells in runs[label]["results"].values() for r in cells.values()]
        subject = info["subject"] if len(info["subject"]) <= 70 else info["subject"][:69] + "…"
        lines.append(f"- **{label}**: `{info['commit']}` ({subject}), run {', '.join(dates)}, "
                     f"timeout {info['timeout_s']:.0f} s per process, 1-minute load average "
                     f"{min(loads):.1f}-{max(loads):.1f} at the processes' starts.")
    versions = next(iter(runs.values()))["info"].get("versions", {}) if runs else {}
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    presets = sorted({p for run in runs.values() for p in run["results"]})
    backends = [b for b in BACKENDS if any(b in run["results"].get(p, {}) for run in runs.values() for p in presets)]
    pair = "before" in runs and "after" in runs
    head = ["preset", "backend"]
    for label in labels:
        head += [f"{label} load", f"{label} 1st predict", f"{label} 2nd predict"]
    if pair:
        head += ["load after/before", "1st predict after/before", "load + 1st predict after/before"]
    head += ["load avg"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for backend in backends:
        for preset in presets:
            cells = {label: runs[label]["results"].get(preset, {}).get(backend) for label in labels}
            if not any(cells.values()):
                continue
            row = [preset, backend]
            for label in labels:
                result = cells[label]
                if result is None:
                    row += ["not measured"] * 3
                    continue
                row += [_cell(result, p) for p in ("load", "predict_1", "predict_2")]
                for phase in PHASES:
                    entry = result.get(phase) or {}
                    if entry.get("status") in ("timeout", "error"):
                        # The phase's own time: the process's wall time less the phases it finished.
                        done = sum(_seconds(result, p) or 0.0 for p in PHASES)
                        notes.append(f"- {label} {preset} {backend}: {phase} {entry['status']} "
                                     f"{entry['after_s'] - done:.0f} s into the phase ({entry['after_s']:.0f} s "
                                     "after the process started)"
                                     + (f": `{entry['last_line']}`" if entry.get("last_line") else ""))
            if pair:
                before, after = cells["before"], cells["after"]
                row += [_ratio(after, before, "load"), _ratio(after, before, "predict_1")]
                if before and after:
                    sums = []
                    for r in (after, before):
                        a, b = _seconds(r, "load"), _seconds(r, "predict_1")
                        sums.append(a + b if a is not None and b is not None else None)
                    if None not in sums:
                        row.append(f"{sums[0] / sums[1]:.2f}")
                    elif sums[0] is not None:
                        row.append(f"(before {_cell(before, 'predict_1')})")
                    else:
                        row.append("—")
                else:
                    row.append("—")
            row.append(" / ".join(f"{cells[l]['loadavg_before']:.1f}" for l in labels if cells[l]))
            lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines += ["", "Failures:", "", *notes]
    imports = []
    for label in labels:
        for backend in backends:
            values = [r[backend]["import"]["seconds"] for r in runs[label]["results"].values()
                      if backend in r and "seconds" in r[backend].get("import", {})]
            if values:
                imports.append(f"{label} {backend} {min(values):.1f}-{max(values):.1f} s")
    if imports:
        lines += ["", "`import keras_ssm` (with Keras and the framework), range over the presets' processes: "
                  + "; ".join(imports) + "."]
    Path(out, "load_predict.md").write_text("\n".join(lines) + "\n")


# -- main ---------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks load_predict", description=__doc__.split("\n")[0])
    parser.add_argument("--presets", help="comma-separated; default every bundled preset of --repo")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repo", default=str(ROOT), help="the checkout the child processes import keras_ssm from")
    parser.add_argument("--label", default="after", help="the run's name in the store (before / after / ...)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per process")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--render", action="store_true", help="only rewrite the md from the JSON")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "load_predict.json"
    store = json.loads(store_path.read_text()) if store_path.exists() else {"runs": {}}
    if args.render:
        render(store, out)
        return
    repo = Path(args.repo).resolve()
    if args.presets:
        presets = args.presets.split(",")
    else:
        presets = sorted(p.name for p in (repo / "zoo").iterdir() if (p / "metadata.json").is_file())
    backends = args.backends.split(",")
    run = store["runs"].setdefault(args.label, {"results": {}})
    run["info"] = {
        **repo_info(repo), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "timeout_s": args.timeout, "loadavg_start": os.getloadavg()[0], "cpus": os.cpu_count(),
        "machine": platform.platform(), "python": platform.python_version(), "versions": _versions(),
        "presets": presets, "backends": backends,
    }
    # A label may be measured over several invocations (e.g. one backend re-run): each is kept.
    run.setdefault("invocations", []).append(run["info"])
    for backend in backends:
        for preset in presets:
            result = run_one(repo, preset, backend, args.timeout)
            file = result.get("import", {}).get("keras_ssm_file", "")
            if file and not Path(file).resolve().is_relative_to(repo):
                result["status"] = f"wrong checkout: keras_ssm imported from {file}"
            run["results"].setdefault(preset, {})[backend] = result
            print(f"{args.label} {backend:10s} {preset:22s} " + "  ".join(
                f"{p} {_cell(result, p)}" for p in PHASES) + f"  (load avg {result['loadavg_before']:.1f})",
                flush=True)
            run["info"]["loadavg_end"] = os.getloadavg()[0]
            store_path.write_text(json.dumps(store, indent=1) + "\n")
    render(store, out)


if __name__ == "__main__":
    main()
