"""A keyword-spotting preset on a stream: real-time factor, memory, detection.

```
.venv/bin/python -m benchmarks keyword_spotting [--preset speech_commands12_s5]
    [--data ../shared/data/speech_commands_v0.02_test] [--backends jax,tensorflow,torch]
    [--hours 1] [--out benchmarks/results]
```

- real-time factor of one stream (`ClassifierStream`, batch 1, the state
  carried): seconds of audio per second of compute, from the median chunk
  time over a minute of the test stream, for chunks of 10, 20, 50, 100 ms
  and one (330 ms) that is no multiple of the model's stride; on each
  backend, each in a fresh process;
- memory: the process's resident memory while `--hours` of audio stream
  through in 100 ms chunks (each backend), sampled every 5 minutes of audio;
- detection (`KeywordSpotter`, the current backend): streams assembled with
  `keras_ssm.data.keyword_stream.assemble_stream` from every keyword and
  `_unknown_` clip of a fold, in random order, 1-3 s gaps, the fold's
  `_silence_` noise under it at volume 0.1. The threshold is chosen on the
  validation fold's stream (7: most hits minus false alarms) and applied to
  the test fold's (8). A keyword counts as detected when a detection of its
  label scores a window that overlaps its clip (the word lies somewhere in
  its second; gaps of 1 s or more keep windows from overlapping two clips);
  every other detection (a wrong label, a second one, an `_unknown_` word,
  noise) is a false alarm.

Writes `results/keyword_spotting.{json,md}` and `results/keyword_spotting.png`
(the detection score over the first minute of the test stream). The timings
are ratios within one run on this machine, not targets.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "speech_commands_v0.02_test")
CHUNKS_MS = (10, 20, 50, 100, 330)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
BACKGROUND = ("_silence_", "_unknown_")


def fold_stream(data_dir, fold, seed):
    """The keyword stream of one fold: `(audio, events)`."""
    import glob

    from keras_ssm.data.keyword_stream import assemble_stream

    parts = [np.load(p) for p in sorted(glob.glob(os.path.join(data_dir, "part*.npz")))]
    audio = np.concatenate([p["audio"] for p in parts])
    names = [str(n) for n in parts[0]["label_names"]]
    labels = np.array(names)[np.concatenate([p["labels"] for p in parts])]
    in_fold = np.concatenate([p["fold"] for p in parts]) == fold
    words = np.flatnonzero(in_fold & (labels != "_silence_"))
    words = np.random.default_rng(seed).permutation(words)
    noise = audio[in_fold & (labels == "_silence_")] / 32768.0
    return assemble_stream(audio[words] / 32768.0, labels[words], noise, gap_seconds=(1.0, 3.0),
                           noise_volume=0.1, seed=seed)


def _rss_mb():
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stream_worker(preset, data_dir, hours):
    """Real-time factors and memory over `hours` of audio, on this backend."""
    import keras

    from keras_ssm import zoo
    from keras_ssm.models.streaming import ClassifierStream

    model = zoo.load(preset)
    rate = zoo.describe(preset)["input"]["sample_rate"]
    audio, _ = fold_stream(data_dir, 8, seed=0)
    minute = audio[: 60 * rate][None, :, None]
    factors = {}
    for ms in CHUNKS_MS:
        chunk = rate * ms // 1000
        stream = ClassifierStream(model, chunk)
        for start in range(0, minute.shape[1] - chunk + 1, chunk):
            stream(minute[:, start : start + chunk])
        factors[ms] = chunk / rate / float(np.median(stream.chunk_seconds[5:]))
    chunk = rate // 10
    stream = ClassifierStream(model, chunk)
    looped = np.resize(audio, len(audio) // chunk * chunk).reshape(1, -1, chunk)
    memory, total = [], int(hours * 3600 * 10)
    start = time.perf_counter()
    for k in range(total):
        stream(looped[:, k % looped.shape[1], :, None])
        if k % 3000 == 0 or k == total - 1:
            memory.append([round((k + 1) / 10 / 60, 1), round(_rss_mb(), 1)])
    seconds = time.perf_counter() - start
    return {"backend": keras.backend.backend(), "real_time_factor": factors, "memory_mb": memory,
            "hour_seconds": seconds, "hours": hours}


def _run_worker(args, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    code = (f"import json, benchmarks.keyword_spotting as b; "
            f"print(json.dumps(b.stream_worker({args.preset!r}, {args.data!r}, {args.hours!r})))")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.join(HERE, ".."), check=False)
    if run.returncode:
        raise RuntimeError(f"{backend} worker failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def score(events, detections, window):
    """Hits and false alarms of `detections` against the stream's `events`."""
    hit, false_alarms = set(), 0
    for at, label, _ in detections:
        match = [i for i, e in enumerate(events)
                 if e["label"] == label and i not in hit and e["start"] < at < e["end"] + window]
        if match and label not in BACKGROUND:
            hit.add(match[0])
        else:
            false_alarms += 1
    keywords = sum(e["label"] not in BACKGROUND for e in events)
    return {"detected": len(hit), "keywords": keywords, "false_alarms": false_alarms}


def detection(preset, data_dir):
    """Threshold chosen on fold 7's stream, applied to fold 8's."""
    from keras_ssm import zoo
    from keras_ssm.models.keyword_spotter import KeywordSpotter, detect

    meta = zoo.describe(preset)
    spec, rate = meta["detection"], meta["input"]["sample_rate"]
    model = zoo.load(preset)
    sweeps = {}
    for split, fold in (("validation", 7), ("test", 8)):
        audio, events = fold_stream(data_dir, fold, seed=fold)
        spotter = KeywordSpotter(model, meta["labels"], rate, window_seconds=spec["window_seconds"],
                                 hop_seconds=spec["hop_seconds"], threshold=1.0, background=BACKGROUND,
                                 refractory_seconds=spec["refractory_seconds"], smoothing=spec["smoothing"])
        for start in range(0, len(audio), rate):
            spotter(audio[start : start + rate])
        hours = len(audio) / rate / 3600
        rows = []
        for threshold in THRESHOLDS:
            found = detect(spotter.scores, meta["labels"], threshold, BACKGROUND, spec["refractory_seconds"],
                           spec["smoothing"])
            result = score(events, found, spec["window_seconds"])
            rows.append({"threshold": threshold, **result, "detection_rate": result["detected"] / result["keywords"],
                         "false_alarms_per_hour": result["false_alarms"] / hours})
        sweeps[split] = {"seconds": len(audio) / rate, "events": len(events), "rows": rows,
                         "real_time_factor": len(audio) / rate / spotter.seconds}
        if split == "test":
            trace = [(at, float(max(p[i] for i, n in enumerate(meta["labels"]) if n not in BACKGROUND)))
                     for at, p in spotter.scores if at <= 60]
            sweeps["trace"] = {"scores": trace, "events": [e for e in events if e["start"] < 60]}
    best = max(sweeps["validation"]["rows"], key=lambda r: (r["detected"] - r["false_alarms"], r["threshold"]))
    chosen = next(r for r in sweeps["test"]["rows"] if r["threshold"] == best["threshold"])
    return {"threshold": best["threshold"], "validation": best, "test": chosen, "sweeps": sweeps,
            "windows": {k: spec[k] for k in ("window_seconds", "hop_seconds", "refractory_seconds", "smoothing")}}


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = results["detection"]["sweeps"]["trace"]
    fig, ax = plt.subplots(figsize=(10, 3))
    for e in trace["events"]:
        keyword = e["label"] not in BACKGROUND
        ax.axvspan(e["start"], e["end"], color="tab:green" if keyword else "0.85", alpha=0.3 if keyword else 0.6)
        ax.text(e["start"], 1.02, e["label"], fontsize=7, rotation=45)
    times, values = zip(*trace["scores"])
    ax.plot(times, values, color="tab:blue", lw=1, label="highest keyword probability of the last second")
    ax.axhline(results["detection"]["threshold"], color="tab:red", ls="--", lw=1, label="threshold")
    ax.set(xlim=(0, 60), ylim=(0, 1.15), xlabel="time in the test stream (s)", ylabel="probability")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(results):
    lines = [f"# Keyword spotting: `{results['preset']}` on a stream", "",
             "Written by `python -m benchmarks keyword_spotting` (see its docstring for the method). "
             f"Machine: {results['machine']}.", "",
             "## Real-time factor of one stream (seconds of audio per second of compute)", "",
             "| backend | " + " | ".join(f"{ms} ms chunks" for ms in CHUNKS_MS) + " | RSS start → end of "
             f"{results['streams'][0]['hours']:g} h (MB) | {results['streams'][0]['hours']:g} h took (s) |",
             "|---|" + "---|" * (len(CHUNKS_MS) + 2)]
    for r in results["streams"]:
        memory = r["memory_mb"]
        lines.append(f"| {r['backend']} | " + " | ".join(f"{r['real_time_factor'][str(ms)]:.0f}×" for ms in CHUNKS_MS)
                     + f" | {memory[0][1]:.0f} → {memory[-1][1]:.0f} | {r['hour_seconds']:.0f} |")
    d = results["detection"]
    lines += ["", "## Detection (KeywordSpotter: the last "
              f"{d['windows']['window_seconds']:g} s scored every {1000 * d['windows']['hop_seconds']:.0f} ms)", "",
              f"Threshold **{d['threshold']}**, chosen on the validation fold's stream; on the test fold's stream "
              f"({d['sweeps']['test']['seconds'] / 60:.1f} min, {d['test']['keywords']} keywords among "
              f"{d['sweeps']['test']['events']} words): **{100 * d['test']['detection_rate']:.1f} %** of keywords "
              f"detected, **{d['test']['false_alarms_per_hour']:.1f} false alarms per hour** "
              f"(real-time factor of the spotter: {d['sweeps']['test']['real_time_factor']:.0f}×).", "",
              "| threshold | validation: detected | false alarms / h | test: detected | false alarms / h |",
              "|---|---|---|---|---|"]
    for v, t in zip(d["sweeps"]["validation"]["rows"], d["sweeps"]["test"]["rows"]):
        lines.append(f"| {v['threshold']} | {100 * v['detection_rate']:.1f} % | {v['false_alarms_per_hour']:.1f} | "
                     f"{100 * t['detection_rate']:.1f} % | {t['false_alarms_per_hour']:.1f} |")
    lines += ["", "![detection score over the first minute of the test stream](keyword_spotting.png)", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="speech_commands12_s5")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    args.data = os.path.abspath(args.data)
    import platform

    machine = f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU"
    results = {"preset": args.preset, "machine": machine,
               "detection": detection(args.preset, args.data),
               "streams": [_run_worker(args, b) for b in args.backends.split(",")]}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "keyword_spotting.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    plot(results, os.path.join(args.out, "keyword_spotting.png"))
    with open(os.path.join(args.out, "keyword_spotting.md"), "w", encoding="utf-8") as f:
        f.write(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
