"""A keyword-spotting preset on a stream: real-time factor, memory, detection.

```
.venv/bin/python -m benchmarks keyword_spotting [--preset speech_commands12_s5]
    [--data ../shared/data/speech_commands_v0.02_test] [--backends jax,tensorflow,torch]
    [--hours 1] [--out benchmarks/results] [--keep-streams]
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
  `_silence_` noise under it at volume 0.1, scored by
  `keras_ssm.data.keyword_stream.score` (one rule, fixed before any figure:
  a hit is a detection of the word's label from half of the word heard to
  1 s after its end, each word hit once; every other detection is a false
  alarm, counted over the whole stream). The posterior smoothing and the
  threshold (`SMOOTHINGS` x `THRESHOLDS`, declared below before any run)
  are chosen together on the validation fold's stream (7: most
  hits minus false alarms; ties to the higher threshold, then the shorter
  smoothing); the test fold's stream (8) is then scored once, at that
  choice, with 95 % intervals (Wilson for the share detected, Garwood for
  false alarms per hour).

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

from keras_ssm.data.keyword_stream import BACKGROUND, HEARD_FRACTION, MAX_LATENCY_SECONDS, score

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "speech_commands_v0.02_test")
CHUNKS_MS = (10, 20, 50, 100, 330)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
SMOOTHINGS = (1, 2, 3, 5)  # windows averaged before the threshold (1: none)
VALIDATION_FOLD, TEST_FOLD = 7, 8


def fold_stream(data_dir, fold, seed):
    """The keyword stream of one fold: `(audio, events)`."""
    import glob

    from keras_ssm.data.keyword_stream import assemble_stream

    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"`--data` {data_dir!r} is not a folder: pass the Speech Commands v0.02 test set "
                                "folder (part*.npz, see ../shared/data/speech_commands_v0.02_test/SOURCE.md).")

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
    audio, _ = fold_stream(data_dir, TEST_FOLD, seed=0)
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


def _stream_scores(model, meta, data_dir, fold):
    """One pass of the spotter over a fold's stream: its window scores, the
    events, the stream's seconds and the spotter's real-time factor."""
    from keras_ssm.models.keyword_spotter import KeywordSpotter

    spec, rate = meta["detection"], meta["input"]["sample_rate"]
    audio, events = fold_stream(data_dir, fold, seed=fold)
    # threshold 1.0: the pass only records every window's probabilities;
    # `detect` replays the trigger on them for each smoothing and threshold.
    spotter = KeywordSpotter(model, meta["labels"], rate, window_seconds=spec["window_seconds"],
                             hop_seconds=spec["hop_seconds"], threshold=1.0, background=BACKGROUND,
                             refractory_seconds=spec["refractory_seconds"], smoothing=1)
    for start in range(0, len(audio), rate):
        spotter(audio[start : start + rate])
    seconds = len(audio) / rate
    return spotter.scores, events, seconds, seconds / spotter.seconds


def _row(scores, events, seconds, labels, refractory, smoothing, threshold):
    """The detections at one smoothing and threshold, scored."""
    from keras_ssm.models.keyword_spotter import detect

    found = detect(scores, labels, threshold, BACKGROUND, refractory, smoothing)
    return {"smoothing": smoothing, "threshold": threshold, **score(events, found, seconds, background=BACKGROUND)}


def detection(preset, data_dir):
    """Smoothing and threshold chosen on the validation fold's stream; the
    test fold's stream scored once at that choice."""
    from keras_ssm import zoo

    meta = zoo.describe(preset)
    spec, labels = meta["detection"], meta["labels"]
    model = zoo.load(preset)
    scores, events, seconds, speed = _stream_scores(model, meta, data_dir, VALIDATION_FOLD)
    rows = [_row(scores, events, seconds, labels, spec["refractory_seconds"], smoothing, threshold)
            for smoothing in SMOOTHINGS for threshold in THRESHOLDS]
    best = max(rows, key=lambda r: (r["detected"] - r["false_alarms"], r["threshold"], -r["smoothing"]))
    validation = {"fold": VALIDATION_FOLD, "seconds": seconds, "events": len(events), "rows": rows,
                  "real_time_factor": speed}
    # Everything above is chosen; the test stream is scored once, below.
    scores, events, seconds, speed = _stream_scores(model, meta, data_dir, TEST_FOLD)
    test = _row(scores, events, seconds, labels, spec["refractory_seconds"], best["smoothing"], best["threshold"])
    keywords = np.array([n not in BACKGROUND for n in labels])
    probabilities = np.array([p for _, p in scores])
    smoothed = np.array([probabilities[max(0, k - best["smoothing"] + 1) : k + 1].mean(0)
                         for k in range(len(probabilities))])
    trace = [(at, float(p[keywords].max())) for (at, _), p in zip(scores, smoothed) if at <= 60]
    return {"threshold": best["threshold"], "smoothing": best["smoothing"], "validation": best, "test": test,
            "rule": {"hit": "a detection of the word's label at start + HEARD_FRACTION x duration <= time <= "
                            "end + MAX_LATENCY_SECONDS; each word hit at most once",
                     "heard_fraction": HEARD_FRACTION, "max_latency_seconds": MAX_LATENCY_SECONDS,
                     "false_alarm": "every other detection (second detection of a word, wrong label, "
                                    "_unknown_ word, noise), per hour of the whole stream",
                     "intervals": "95 %: Wilson (share detected), Garwood (false alarms per hour)"},
            "choices": [
                {"choice": "scoring rule", "split": "none: fixed before any figure (keyword_stream.score)"},
                {"choice": "smoothing", "value": best["smoothing"], "candidates": list(SMOOTHINGS),
                 "split": f"validation (fold {VALIDATION_FOLD} stream)"},
                {"choice": "threshold", "value": best["threshold"], "candidates": list(THRESHOLDS),
                 "split": f"validation (fold {VALIDATION_FOLD} stream)",
                 "criterion": "most hits minus false alarms; ties to the higher threshold, then less smoothing"}],
            "sweeps": {"validation": validation,
                       "test": {"fold": TEST_FOLD, "seconds": seconds, "events": len(events),
                                "real_time_factor": speed},
                       "trace": {"scores": trace, "events": [e for e in events if e["start"] < 60]}},
            "windows": {**{k: spec[k] for k in ("window_seconds", "hop_seconds", "refractory_seconds")},
                        "smoothing": best["smoothing"]}}


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
    smoothing = results["detection"]["smoothing"]
    ax.plot(times, values, color="tab:blue", lw=1, label="highest keyword probability of the last second"
            + (f", averaged over the last {smoothing} windows" if smoothing > 1 else ""))
    ax.axhline(results["detection"]["threshold"], color="tab:red", ls="--", lw=1, label="threshold")
    ax.set(xlim=(0, 60), ylim=(0, 1.15), xlabel="time in the test stream (s)", ylabel="probability")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(results):
    from keras_ssm.zoo.intervals import format_interval

    lines = [f"# Keyword spotting: `{results['preset']}` on a stream", "",
             "Written by `python -m benchmarks keyword_spotting` (see its docstring for the method). "
             f"Machine: {results['machine']}, load average {results['load_average']:g} when it started "
             "(other jobs on the same cores slow every timing).", ""]
    if results["streams"]:
        hours = results["streams"][0]["hours"]
        kept = results.get("streams_from")
        lines += ["## Real-time factor of one stream (seconds of audio per second of compute)", ""]
        if kept:
            commit = f" (commit {kept['commit']})" if kept.get("commit") else ""
            lines += [f"Kept from an earlier run of this benchmark{commit} on {kept['machine']} (`--keep-streams`: "
                      "this run re-measured the detection only).", ""]
        lines += ["| backend | " + " | ".join(f"{ms} ms chunks" for ms in CHUNKS_MS)
                  + f" | RSS start → end of {hours:g} h (MB) | {hours:g} h took (s) |",
                  "|---|" + "---|" * (len(CHUNKS_MS) + 2)]
        for r in results["streams"]:
            memory = r["memory_mb"]
            factors = " | ".join(f"{r['real_time_factor'][str(ms)]:.0f}×" for ms in CHUNKS_MS)
            lines.append(f"| {r['backend']} | {factors} | {memory[0][1]:.0f} → {memory[-1][1]:.0f} | "
                         f"{r['hour_seconds']:.0f} |")
        lines.append("")
    d, rule = results["detection"], results["detection"]["rule"]
    edges = [f"the {name} ({value}) is the {'largest' if value == max(grid) else 'smallest'} candidate"
             for name, value, grid in (("smoothing", d["smoothing"], SMOOTHINGS),
                                       ("threshold", d["threshold"], THRESHOLDS))
             if value in (min(grid), max(grid))]
    edge = f" The choice lies at the edge of the candidates: {'; '.join(edges)}." if edges else ""
    v, t = d["sweeps"]["validation"], d["test"]
    w = d["windows"]
    lines += [f"## Detection (KeywordSpotter: the last {w['window_seconds']:g} s scored every "
              f"{1000 * w['hop_seconds']:.0f} ms, one detection per {w['refractory_seconds']:g} s at most)", "",
              f"Scoring rule (`keras_ssm.data.keyword_stream.score`, fixed before any figure): a detection hits a "
              f"keyword when it has the keyword's label and fires from {rule['heard_fraction']:g} of the word heard "
              f"to {rule['max_latency_seconds']:g} s after its end; each keyword is hit at most once; every other "
              "detection (a second one, a wrong label, an `_unknown_` word, noise) is a false alarm, counted over "
              "the whole stream. Intervals are 95 %: Wilson for the share of keywords detected, exact Poisson "
              "(Garwood) for false alarms per hour.", "",
              f"**Test (fold {d['sweeps']['test']['fold']}, scored once)**, smoothing over **{d['smoothing']}** "
              f"window(s) and threshold **{d['threshold']}**, both chosen on the validation stream: on "
              f"{d['sweeps']['test']['seconds'] / 60:.1f} min of stream ({t['keywords']} keywords among "
              f"{d['sweeps']['test']['events']} words), **{100 * t['detection_rate']:.1f} %** of keywords detected "
              f"({t['detected']}/{t['keywords']}, {format_interval(t['detection_rate_interval'])}), "
              f"**{t['false_alarms_per_hour']:.1f} false alarms per hour** ({t['false_alarms']} in "
              f"{60 * t['hours']:.1f} min, {format_interval(t['false_alarms_per_hour_interval'], percent=False)}); "
              f"real-time factor of the spotter {d['sweeps']['test']['real_time_factor']:.0f}×.", "",
              f"### The choice, on the validation stream (fold {v['fold']}: {v['seconds'] / 60:.1f} min, "
              f"{d['validation']['keywords']} keywords among {v['events']} words)", "",
              "Most hits minus false alarms (ties: the higher threshold, then less smoothing). The test stream "
              "was not scored at any other setting." + edge, "",
              "| smoothing (windows) | threshold | detected | 95 % interval | false alarms | per hour | 95 % interval "
              "| hits − false alarms |",
              "|---|---|---|---|---|---|---|---|"]
    for r in v["rows"]:
        chosen = r["smoothing"] == d["smoothing"] and r["threshold"] == d["threshold"]
        mark = "**" if chosen else ""
        lines.append(f"| {r['smoothing']} | {r['threshold']} | {100 * r['detection_rate']:.1f} % | "
                     f"{format_interval(r['detection_rate_interval'])} | {r['false_alarms']} | "
                     f"{r['false_alarms_per_hour']:.1f} | "
                     f"{format_interval(r['false_alarms_per_hour_interval'], percent=False)} | "
                     f"{mark}{r['detected'] - r['false_alarms']}{mark} |")
    lines += ["", "![detection score over the first minute of the test stream](keyword_spotting.png)", ""]
    return "\n".join(lines)


def _commit(path):
    """The commit that last wrote `path` (None outside a git checkout)."""
    run = subprocess.run(["git", "log", "-1", "--format=%h", "--", os.path.basename(path)], capture_output=True,
                         text=True, cwd=os.path.dirname(path), check=False)
    return run.stdout.strip() or None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="speech_commands12_s5")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--backends", default="jax,tensorflow,torch",
                        help="backends timed in fresh processes, comma-separated ('' times none)")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--keep-streams", action="store_true",
                        help="re-run the detection only: keep the real-time factors and memory of the "
                             "keyword_spotting.json already in --out (the md says they are from that run)")
    args = parser.parse_args(argv)
    args.data = os.path.abspath(args.data)
    import platform

    machine = f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU"
    load = os.getloadavg()[0]
    results = {"preset": args.preset, "machine": machine, "load_average": round(load, 1)}
    if args.keep_streams:
        path = os.path.join(args.out, "keyword_spotting.json")
        if not os.path.isfile(path):
            raise SystemExit(f"--keep-streams: no {path} to keep the timings from; run without it.")
        with open(path, encoding="utf-8") as f:
            earlier = json.load(f)
        if earlier["preset"] != args.preset:
            raise SystemExit(f"--keep-streams: {path} is of {earlier['preset']!r}, not {args.preset!r}.")
        results["streams"] = earlier["streams"]
        results["streams_from"] = (earlier.get("streams_from")
                                   or {"machine": earlier["machine"], "commit": _commit(path)})
    results["detection"] = detection(args.preset, args.data)
    if not args.keep_streams:
        results["streams"] = [_run_worker(args, b) for b in args.backends.split(",") if b]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "keyword_spotting.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    plot(results, os.path.join(args.out, "keyword_spotting.png"))
    with open(os.path.join(args.out, "keyword_spotting.md"), "w", encoding="utf-8") as f:
        f.write(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
