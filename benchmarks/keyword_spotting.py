"""A keyword-spotting preset on a stream: real-time factor, memory, detection.

```
.venv/bin/python -m benchmarks keyword_spotting [--preset speech_commands12_s5]
    [--data ../shared/data/speech_commands_v0.02_test] [--backends jax,tensorflow,torch]
    [--hours 1] [--out benchmarks/results] [--keep-streams] [--noise-volume 0.1]
    [--max-words N] [--render-only]
.venv/bin/python -m benchmarks keyword_spotting --candidate runs/RUN/best.keras [--preset P]
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
  `_silence_` noise under it at `--noise-volume` (0.1: quiet; 1.0: the
  level it was recorded at), scored by
  `keras_ssm.data.keyword_stream.score` (one rule, fixed before any figure:
  a hit is a detection of the word's label from half of the word heard to
  1 s after its end, each word hit once; every other detection is a false
  alarm, counted over the whole stream). The posterior smoothing and the
  threshold (`SMOOTHINGS` x `THRESHOLDS`, declared below before any run)
  are chosen together on the validation fold's stream (7: most
  hits minus false alarms; ties to the higher threshold, then the shorter
  smoothing); the test fold's stream (8) is then scored once, at that
  choice, with 95 % intervals (Wilson for the share detected, Garwood for
  false alarms per hour). Each stream's signal-to-noise ratio is measured
  from its parts (the words alone, the noise floor alone): the speech's
  power over the noise's, both over the words' samples, in dB.
- at another noise volume (`--noise-volume 1.0`), the operating point is
  the one chosen at 0.1 (read from that run's results of the same preset:
  "the same operating point", the headline); the validation stream at this
  volume is swept too, and its own choice (same criterion) is reported,
  labelled, beside it. Both are fixed before the test stream is scored,
  once, in one pass. Such a run measures no timings.

`--candidate` scores a trained model that is not published on the
validation stream alone, with `--preset`'s labels and windows (the grid,
its choice, the most keywords within the goal's false alarms), so that
candidates are compared before one is published and the test stream read;
it writes `keyword_candidate_<run>.json` in `--out` (outside the index).

Writes `results/keyword_spotting_<preset>[_noise<volume>].{json,md,png}`
(`keras_ssm.zoo.publishing.keyword_benchmark_file`, the one naming rule;
the png is the detection score over the first minute of the test stream)
and the index `results/keyword_spotting.md` over every such file there.
The timings are ratios within one run on this machine, not targets.
`--keep-streams` re-runs the detection only and keeps the timings of the
preset's earlier results (none when it was never timed; the page says so);
`--max-words N` (a check of the code, at a tiny size) takes the first N
words of each fold's stream; `--render-only` re-writes the pages (md, index)
from the json files, running nothing.
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
QUIET_NOISE_VOLUME = 0.1  # the noise floor of the published operating point (its choice is made at it)
GOAL_FALSE_ALARMS_PER_HOUR, GOAL_DETECTION_RATE = 10.0, 0.85  # issue #31's goal


def fold_stream(data_dir, fold, seed, noise_volume=QUIET_NOISE_VOLUME, max_words=None, snr=False):
    """The keyword stream of one fold: `(audio, events)`, and its
    signal-to-noise ratio (`stream_snr`) when `snr`."""
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
    words = np.random.default_rng(seed).permutation(words)[:max_words]
    noise = audio[in_fold & (labels == "_silence_")] / 32768.0
    clips = audio[words] / 32768.0
    stream, events = assemble_stream(clips, labels[words], noise, gap_seconds=(1.0, 3.0),
                                     noise_volume=noise_volume, seed=seed)
    if not snr:
        return stream, events
    # The same stream's parts: the same gaps and noise draws (the generator draws the gaps, then the noise,
    # whatever the clips hold), with the noise silenced, and with the words silenced.
    speech, _ = assemble_stream(clips, labels[words], noise, gap_seconds=(1.0, 3.0), noise_volume=0.0, seed=seed)
    floor, _ = assemble_stream(np.zeros_like(clips), labels[words], noise, gap_seconds=(1.0, 3.0),
                               noise_volume=noise_volume, seed=seed)
    return stream, events, stream_snr(stream, speech, floor, events, noise_volume * noise)


def stream_snr(stream, speech, floor, events, noise_clips, sample_rate=16000):
    """The stream's signal-to-noise ratio from its parts: `snr_db`, the words'
    power over the noise floor's, both over the words' samples (each word's
    one-second clip); `per_word_db`, the median and the 10th and 90th
    percentiles of the same ratio word by word; the noise floor's power over
    the whole stream (dBFS); the words' power over the median power of the
    fold's noise clips at this volume (the noise clips' powers spread over
    tens of dB, so the mean is the loudest few's); and the share of samples
    the sum clipped."""
    def db(x):
        return float(10 * np.log10(x)) if x > 0 else float("inf")

    spans = [(int(round(e["start"] * sample_rate)), int(round(e["end"] * sample_rate))) for e in events]
    inside = np.zeros(len(stream), bool)
    for a, b in spans:
        inside[a:b] = True
    speech_power = float(np.mean(np.square(speech[inside], dtype=np.float64)))
    noise_power = float(np.mean(np.square(floor[inside], dtype=np.float64)))
    words = [db(np.sum(np.square(speech[a:b], dtype=np.float64)) / np.sum(np.square(floor[a:b], dtype=np.float64)))
             if np.any(floor[a:b]) else float("inf") for a, b in spans]
    return {"snr_db": db(speech_power / noise_power) if noise_power > 0 else float("inf"),
            "per_word_db": {"median": float(np.median(words)), "p10": float(np.percentile(words, 10)),
                            "p90": float(np.percentile(words, 90))},
            "speech_dbfs": db(speech_power), "noise_dbfs": db(noise_power),
            "noise_dbfs_whole_stream": db(float(np.mean(np.square(floor, dtype=np.float64)))),
            "speech_over_median_noise_clip_db": db(speech_power / float(np.median(
                np.mean(np.square(noise_clips, dtype=np.float64), axis=1)))),
            "noise_clip_dbfs": {"median": db(float(np.median(np.mean(np.square(noise_clips, dtype=np.float64), 1)))),
                                "min": db(float(np.min(np.mean(np.square(noise_clips, dtype=np.float64), 1)))),
                                "max": db(float(np.max(np.mean(np.square(noise_clips, dtype=np.float64), 1))))},
            "clipped_share": float(np.mean(np.abs(speech.astype(np.float64) + floor) > 1.0)),
            "definition": "10 log10 of the words' mean power over the noise floor's, both over the words' samples "
                          "(each word's one-second clip), from the stream's parts assembled apart"}


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


def _stream_scores(model, meta, data_dir, fold, noise_volume=QUIET_NOISE_VOLUME, max_words=None):
    """One pass of the spotter over a fold's stream: its window scores, the
    events, the stream's seconds, the spotter's real-time factor and the
    stream's signal-to-noise ratio."""
    from keras_ssm.models.keyword_spotter import KeywordSpotter

    spec, rate = meta["detection"], meta["input"]["sample_rate"]
    audio, events, snr = fold_stream(data_dir, fold, seed=fold, noise_volume=noise_volume, max_words=max_words,
                                     snr=True)
    # threshold 1.0: the pass only records every window's probabilities;
    # `detect` replays the trigger on them for each smoothing and threshold.
    spotter = KeywordSpotter(model, meta["labels"], rate, window_seconds=spec["window_seconds"],
                             hop_seconds=spec["hop_seconds"], threshold=1.0, background=BACKGROUND,
                             refractory_seconds=spec["refractory_seconds"], smoothing=1)
    for start in range(0, len(audio), rate):
        spotter(audio[start : start + rate])
    seconds = len(audio) / rate
    return spotter.scores, events, seconds, seconds / spotter.seconds, snr


def validation_sweep(model, meta, data_dir, noise_volume=QUIET_NOISE_VOLUME, max_words=None):
    """Every smoothing and threshold of the grid, scored on the validation
    fold's stream: `(rows, events, seconds, real-time factor, snr)`."""
    scores, events, seconds, speed, snr = _stream_scores(model, meta, data_dir, VALIDATION_FOLD, noise_volume,
                                                         max_words)
    rows = [_row(scores, events, seconds, meta["labels"], meta["detection"]["refractory_seconds"], smoothing,
                 threshold) for smoothing in SMOOTHINGS for threshold in THRESHOLDS]
    return rows, events, seconds, speed, snr


def candidate(model_path, like, data_dir, noise_volume=QUIET_NOISE_VOLUME, max_words=None):
    """A trained candidate's detection on the validation fold's stream only
    (the test stream is the publisher's, once): the grid, its choice and the
    most keywords detected within the goal's false alarms. `like` is the
    published preset whose labels and spotter windows it shares."""
    import keras

    import keras_ssm  # noqa: F401  (registers the serializables)
    from keras_ssm import zoo

    meta = zoo.describe(like)
    model = keras.saving.load_model(model_path, safe_mode=True)
    rows, events, seconds, speed, snr = validation_sweep(model, meta, data_dir, noise_volume, max_words)
    return {"model": model_path, "like": like, "noise_volume": noise_volume, "max_words": max_words,
            "fold": VALIDATION_FOLD, "seconds": seconds, "events": len(events), "real_time_factor": speed,
            "snr": snr, "rows": rows, "choice": _best(rows), "reachable_at_goal": reachable(rows),
            "note": "validation only: the test stream is scored once, by the publisher of the preset chosen"}


def _row(scores, events, seconds, labels, refractory, smoothing, threshold):
    """The detections at one smoothing and threshold, scored."""
    from keras_ssm.models.keyword_spotter import detect

    found = detect(scores, labels, threshold, BACKGROUND, refractory, smoothing)
    return {"smoothing": smoothing, "threshold": threshold, **score(events, found, seconds, background=BACKGROUND)}


def _best(rows):
    """The validation stream's choice: most hits minus false alarms; ties to
    the higher threshold, then the shorter smoothing."""
    return max(rows, key=lambda r: (r["detected"] - r["false_alarms"], r["threshold"], -r["smoothing"]))


def reachable(rows, limit=GOAL_FALSE_ALARMS_PER_HOUR):
    """The row of `rows` that detects the most keywords at <= `limit` false
    alarms per hour (ties: fewer false alarms, then the higher threshold),
    or None when no row stays within the limit."""
    within = [r for r in rows if r["false_alarms_per_hour"] <= limit]
    if not within:
        return None
    return max(within, key=lambda r: (r["detected"], -r["false_alarms"], r["threshold"], -r["smoothing"]))


def detection(preset, data_dir, noise_volume=QUIET_NOISE_VOLUME, operating_point=None, max_words=None):
    """Smoothing and threshold chosen on the validation fold's stream; the
    test fold's stream scored once at that choice.

    At a noise volume other than the quiet one, `operating_point` (the
    quiet run's `{"smoothing", "threshold", "from"}`) is the headline's
    setting; this volume's validation stream is swept too and its own choice
    kept, labelled; both are fixed before the test stream's one pass."""
    from keras_ssm import zoo

    meta = zoo.describe(preset)
    spec, labels = meta["detection"], meta["labels"]
    model = zoo.load(preset)
    refractory = spec["refractory_seconds"]
    rows, events, seconds, speed, snr = validation_sweep(model, meta, data_dir, noise_volume, max_words)
    own = _best(rows)
    if operating_point is None:
        point, chosen_on = own, f"validation (fold {VALIDATION_FOLD} stream)"
    else:
        point = next(r for r in rows if (r["smoothing"], r["threshold"])
                     == (operating_point["smoothing"], operating_point["threshold"]))
        chosen_on = (f"validation (fold {VALIDATION_FOLD} stream at noise volume "
                     f"{operating_point['noise_volume']:g}, {operating_point['from']})")
    at_goal = reachable(rows)
    validation = {"fold": VALIDATION_FOLD, "seconds": seconds, "events": len(events), "rows": rows,
                  "real_time_factor": speed, "snr": snr, "noise_volume": noise_volume,
                  "reachable_at_goal": {"false_alarms_per_hour": GOAL_FALSE_ALARMS_PER_HOUR, "row": at_goal}}
    settings = [(point["smoothing"], point["threshold"])]
    if operating_point is not None and (own["smoothing"], own["threshold"]) != settings[0]:
        settings.append((own["smoothing"], own["threshold"]))
    # Everything above is chosen; the test stream is scored once, below (one pass, at the settings above).
    scores, events, seconds, speed, test_snr = _stream_scores(model, meta, data_dir, TEST_FOLD, noise_volume,
                                                              max_words)
    tests = [_row(scores, events, seconds, labels, refractory, *setting) for setting in settings]
    test = tests[0]
    keywords = np.array([n not in BACKGROUND for n in labels])
    probabilities = np.array([p for _, p in scores])
    smoothed = np.array([probabilities[max(0, k - point["smoothing"] + 1) : k + 1].mean(0)
                         for k in range(len(probabilities))])
    trace = [(at, float(p[keywords].max())) for (at, _), p in zip(scores, smoothed) if at <= 60]
    criterion = "most hits minus false alarms; ties to the higher threshold, then less smoothing"
    result = {
        "threshold": point["threshold"], "smoothing": point["smoothing"], "validation": point, "test": test,
        "noise_volume": noise_volume,
        "rule": {"hit": "a detection of the word's label at start + HEARD_FRACTION x duration <= time <= "
                        "end + MAX_LATENCY_SECONDS; each word hit at most once",
                 "heard_fraction": HEARD_FRACTION, "max_latency_seconds": MAX_LATENCY_SECONDS,
                 "false_alarm": "every other detection (second detection of a word, wrong label, "
                                "_unknown_ word, noise), per hour of the whole stream",
                 "intervals": "95 %: Wilson (share detected), Garwood (false alarms per hour)"},
        "choices": [
            {"choice": "scoring rule", "split": "none: fixed before any figure (keyword_stream.score)"},
            {"choice": "smoothing", "value": point["smoothing"], "candidates": list(SMOOTHINGS), "split": chosen_on},
            {"choice": "threshold", "value": point["threshold"], "candidates": list(THRESHOLDS), "split": chosen_on,
             "criterion": criterion}],
        "sweeps": {"validation": validation,
                   "test": {"fold": TEST_FOLD, "seconds": seconds, "events": len(events), "real_time_factor": speed,
                            "snr": test_snr, "noise_volume": noise_volume},
                   "trace": {"scores": trace, "events": [e for e in events if e["start"] < 60]}},
        "windows": {**{k: spec[k] for k in ("window_seconds", "hop_seconds", "refractory_seconds")},
                    "smoothing": point["smoothing"]}}
    if operating_point is not None:
        result["operating_point_from"] = operating_point
        result["own_choice"] = {
            "label": f"chosen on this run's validation stream (fold {VALIDATION_FOLD}, noise volume {noise_volume:g}): "
                     "not the published operating point",
            "smoothing": own["smoothing"], "threshold": own["threshold"], "criterion": criterion,
            "validation": own, "test": tests[-1]}
    if max_words is not None:
        result["max_words"] = max_words
    return result


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
    volume = results["detection"].get("noise_volume", QUIET_NOISE_VOLUME)
    ax.set(xlim=(0, 60), ylim=(0, 1.15), xlabel=f"time in the test stream (s), noise at volume {volume:g}",
           ylabel="probability")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figures(t, format_interval):
    """A test row in words: share detected and false alarms per hour, with intervals."""
    return (f"**{100 * t['detection_rate']:.1f} %** of keywords detected ({t['detected']}/{t['keywords']}, "
            f"{format_interval(t['detection_rate_interval'])}), **{t['false_alarms_per_hour']:.1f} false alarms per "
            f"hour** ({t['false_alarms']} in {60 * t['hours']:.1f} min, "
            f"{format_interval(t['false_alarms_per_hour_interval'], percent=False)})")


def _snr_words(snr):
    if snr is None:
        return "signal-to-noise ratio not recorded by this run"
    w = snr["per_word_db"]
    n = snr["noise_clip_dbfs"]
    return (f"signal-to-noise ratio {snr['snr_db']:.1f} dB (words' power over the noise's, over the words' samples; "
            f"word by word median {w['median']:.1f} dB, 10th-90th percentile {w['p10']:.1f} to {w['p90']:.1f} dB; "
            f"the words' power over the median noise clip's {snr['speech_over_median_noise_clip_db']:.1f} dB, the "
            f"noise clips spanning {n['min']:.0f} to {n['max']:.0f} dBFS; {100 * snr['clipped_share']:.3f} % of "
            "samples clipped)")


def _goal_words(v):
    limit = GOAL_FALSE_ALARMS_PER_HOUR
    row = reachable(v["rows"], limit)  # from the recorded rows (a run before it was recorded too)
    if row is None:
        fewest = min(v["rows"], key=lambda r: (r["false_alarms"], -r["detected"]))
        return (f" Issue #31's goal is >= {100 * GOAL_DETECTION_RATE:.0f} % of keywords at <= {limit:g} false alarms "
                f"per hour: no candidate of this table stays at or below {limit:g} false alarms per hour (on "
                f"{v['seconds'] / 60:.1f} min one false alarm is {3600 / v['seconds']:.1f} per hour; the fewest here, "
                f"{fewest['false_alarms_per_hour']:.1f} per hour, come with {100 * fewest['detection_rate']:.1f} % of "
                f"keywords at smoothing {fewest['smoothing']}, threshold {fewest['threshold']}).")
    return (f" Issue #31's goal is >= {100 * GOAL_DETECTION_RATE:.0f} % of keywords at <= {limit:g} false alarms per "
            f"hour: the most reachable in this table at <= {limit:g} is {100 * row['detection_rate']:.1f} % "
            f"(smoothing {row['smoothing']}, threshold {row['threshold']}: {row['detected']}/{row['keywords']}, "
            f"{row['false_alarms']} false alarm(s), {row['false_alarms_per_hour']:.1f} per hour; on "
            f"{v['seconds'] / 60:.1f} min one false alarm is {3600 / v['seconds']:.1f} per hour).")


def render(results, image=None):
    from keras_ssm.intervals import format_interval

    d, rule = results["detection"], results["detection"]["rule"]
    volume = d.get("noise_volume", QUIET_NOISE_VOLUME)
    lines = [f"# Keyword spotting: `{results['preset']}` on a stream, noise at volume {volume:g}", "",
             "Written by `python -m benchmarks keyword_spotting` (see its docstring for the method). "
             f"Machine: {results['machine']}, load average {results['load_average']:g} when it started "
             "(other jobs on the same cores slow every timing)"
             + (f"; backend {results['backend']}" if results.get("backend") else "") + ".", ""]
    if d.get("max_words") is not None:
        lines += [f"**A check of the code at a tiny size (`--max-words {d['max_words']}`): not a result.**", ""]
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
    elif results.get("streams_note"):
        lines += ["## Real-time factor of one stream", "", results["streams_note"], ""]
    edges = [f"the {name} ({value}) is the {'largest' if value == max(grid) else 'smallest'} candidate"
             for name, value, grid in (("smoothing", d["smoothing"], SMOOTHINGS),
                                       ("threshold", d["threshold"], THRESHOLDS))
             if value in (min(grid), max(grid))]
    edge = f" The choice lies at the edge of the candidates: {'; '.join(edges)}." if edges else ""
    v, t, ts = d["sweeps"]["validation"], d["test"], d["sweeps"]["test"]
    w = d["windows"]
    point = d.get("operating_point_from")
    where = ("both chosen on the validation stream" if point is None else
             f"both chosen on the validation stream at noise volume {point['noise_volume']:g} "
             f"(`{os.path.basename(point['from'])}`): the same operating point")
    lines += [f"## Detection (KeywordSpotter: the last {w['window_seconds']:g} s scored every "
              f"{1000 * w['hop_seconds']:.0f} ms, one detection per {w['refractory_seconds']:g} s at most)", "",
              f"Scoring rule (`keras_ssm.data.keyword_stream.score`, fixed before any figure): a detection hits a "
              f"keyword when it has the keyword's label and fires from {rule['heard_fraction']:g} of the word heard "
              f"to {rule['max_latency_seconds']:g} s after its end; each keyword is hit at most once; every other "
              "detection (a second one, a wrong label, an `_unknown_` word, noise) is a false alarm, counted over "
              "the whole stream. Intervals are 95 %: Wilson for the share of keywords detected, exact Poisson "
              "(Garwood) for false alarms per hour.", "",
              f"The fold's `_silence_` noise lies under each stream at volume {volume:g}"
              + (" (1: the level it was recorded at)" if volume == 1 else "")
              + f": test stream {_snr_words(ts.get('snr'))}; "
              f"validation stream {_snr_words(v.get('snr'))}.", "",
              f"**Test (fold {ts['fold']}, scored once)**, smoothing over **{d['smoothing']}** window(s) and threshold "
              f"**{d['threshold']}**, {where}: on {ts['seconds'] / 60:.1f} min of stream ({t['keywords']} keywords "
              f"among {ts['events']} words), {_figures(t, format_interval)}; real-time factor of the spotter "
              f"{ts['real_time_factor']:.0f}×.", ""]
    own = d.get("own_choice")
    if own:
        same = (own["smoothing"], own["threshold"]) == (d["smoothing"], d["threshold"])
        lines += [f"Labelled, not the operating point: the choice on this run's own validation stream (noise volume "
                  f"{volume:g}, same criterion) is smoothing {own['smoothing']}, threshold {own['threshold']}"
                  + (" (the same setting)." if same else
                     f"; the same test pass at it: {_figures(own['test'], format_interval)}."), ""]
    lines += [f"### The choice, on the validation stream (fold {v['fold']}: {v['seconds'] / 60:.1f} min, "
              f"{d['validation']['keywords']} keywords among {v['events']} words, noise volume {volume:g})", ""]
    if point is None:
        lines += ["Most hits minus false alarms (ties: the higher threshold, then less smoothing). The test stream "
                  "was not scored at any other setting." + edge + _goal_words(v), ""]
    else:
        lines += [f"The operating point (in bold) was chosen at noise volume {point['noise_volume']:g}, not on this "
                  "table; this table's own choice (most hits minus false alarms) is reported above, labelled. The "
                  "test stream was scored at these settings only." + edge + _goal_words(v), ""]
    lines += ["| smoothing (windows) | threshold | detected | 95 % interval | false alarms | per hour | 95 % interval "
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
    image = image or "keyword_spotting.png"
    lines += ["", f"![detection score over the first minute of the test stream]({image})", ""]
    return "\n".join(lines)


def render_index(out):
    """The index page `keyword_spotting.md` over every results file in `out`:
    one line per preset and noise volume."""
    import glob

    from keras_ssm.intervals import format_interval

    lines = ["# Keyword spotting on a stream: the results", "",
             "Written by `python -m benchmarks keyword_spotting` (see its docstring for the method) from the results "
             "files here; one page per preset and noise volume (`keras_ssm.zoo.publishing.keyword_benchmark_file`). "
             "A preset's published detection settings and figures are those at noise volume "
             f"{QUIET_NOISE_VOLUME:g}. Issue #31's goal: >= {100 * GOAL_DETECTION_RATE:.0f} % of keywords at <= "
             f"{GOAL_FALSE_ALARMS_PER_HOUR:g} false alarms per hour.", "",
             "| preset | noise volume | test stream SNR | smoothing, threshold (chosen on) | test: detected | "
             "95 % interval | false alarms per hour | 95 % interval | validation: most detected at <= "
             f"{GOAL_FALSE_ALARMS_PER_HOUR:g} false alarms per hour | page |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "keyword_spotting_*.json"))):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
        if results["detection"].get("max_words") is None:
            runs.append((path, results))
    # A stream depends on the fold and the noise volume only: a run that did not record its SNR (before the
    # benchmark measured it) shares it with a run at the same volume that did.
    snrs = {r["detection"].get("noise_volume", QUIET_NOISE_VOLUME): r["detection"]["sweeps"]["test"]["snr"]
            for _, r in runs if "snr" in r["detection"]["sweeps"]["test"]}
    shared = False
    for path, results in runs:
        d = results["detection"]
        volume, point = d.get("noise_volume", QUIET_NOISE_VOLUME), d.get("operating_point_from")
        snr = d["sweeps"]["test"].get("snr")
        if snr:
            snr = f"{snr['snr_db']:.1f} dB"
        elif volume in snrs:
            snr, shared = f"{snrs[volume]['snr_db']:.1f} dB *", True
        else:
            snr = "not recorded"
        goal = reachable(d["sweeps"]["validation"]["rows"])
        goal = ("none of the grid" if goal is None else
                f"{100 * goal['detection_rate']:.1f} % (smoothing {goal['smoothing']}, threshold {goal['threshold']}, "
                f"{goal['false_alarms_per_hour']:.1f} per hour)")
        page = os.path.basename(path)[: -len(".json")] + ".md"
        rows = [(d["smoothing"], d["threshold"], f"fold 7 at volume {point['noise_volume']:g}" if point
                 else f"fold 7 at volume {volume:g}", d["test"])]
        own = d.get("own_choice")
        if own and (own["smoothing"], own["threshold"]) != (d["smoothing"], d["threshold"]):
            rows.append((own["smoothing"], own["threshold"], f"fold 7 at volume {volume:g}; labelled, not the "
                         "operating point", own["test"]))
        for smoothing, threshold, chosen, t in rows:
            lines.append(f"| `{results['preset']}` | {volume:g} | {snr} | {smoothing}, {threshold} ({chosen}) | "
                         f"{100 * t['detection_rate']:.1f} % ({t['detected']}/{t['keywords']}) | "
                         f"{format_interval(t['detection_rate_interval'])} | {t['false_alarms_per_hour']:.1f} | "
                         f"{format_interval(t['false_alarms_per_hour_interval'], percent=False)} | {goal} | "
                         f"[{page}]({page}) |")
    lines += ["", "SNR: the words' power over the noise floor's, both over the words' samples, from the stream's "
              "parts (each page gives the word-by-word spread)."
              + (" *: not recorded by that run; the same test stream (fold, order, gaps and noise depend on the fold "
                 "and the volume only) measured by another preset's run." if shared else ""),
              "Each test stream was scored once, in one pass, at settings fixed before it was scored.", ""]
    return "\n".join(lines)


def _commit(path):
    """The commit that last wrote `path` (None outside a git checkout)."""
    run = subprocess.run(["git", "log", "-1", "--format=%h", "--", os.path.basename(path)], capture_output=True,
                         text=True, cwd=os.path.dirname(path), check=False)
    return run.stdout.strip() or None


def _path(out, preset, noise_volume, ext):
    from keras_ssm.zoo.publishing import keyword_benchmark_file

    return keyword_benchmark_file(preset, noise_volume, ext, folder=out)


def _write_pages(results, out):
    volume = results["detection"].get("noise_volume", QUIET_NOISE_VOLUME)
    with open(_path(out, results["preset"], volume, "md"), "w", encoding="utf-8") as f:
        f.write(render(results, os.path.basename(_path(out, results["preset"], volume, "png"))))
    with open(os.path.join(out, "keyword_spotting.md"), "w", encoding="utf-8") as f:
        f.write(render_index(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="speech_commands12_s5")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--backends", default="jax,tensorflow,torch",
                        help="backends timed in fresh processes, comma-separated ('' times none)")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--keep-streams", action="store_true",
                        help="re-run the detection only: keep the real-time factors and memory of this preset's "
                             "results already in --out (the md says they are from that run; none if it was never "
                             "timed, and the md says so)")
    parser.add_argument("--noise-volume", type=float, default=QUIET_NOISE_VOLUME,
                        help=f"the fold's _silence_ noise under the stream (default {QUIET_NOISE_VOLUME:g}; 1: as "
                             f"recorded). Another volume than {QUIET_NOISE_VOLUME:g} takes the operating point of "
                             "this preset's results at that volume in --out and measures no timings")
    parser.add_argument("--max-words", type=int, help="a check of the code: the first N words of each fold's stream")
    parser.add_argument("--render-only", action="store_true",
                        help="re-write this preset's page at --noise-volume and the index from the json files in "
                             "--out; run nothing")
    parser.add_argument("--candidate", metavar="MODEL.keras",
                        help="a trained candidate (a run's best.keras), scored on the validation stream only, with "
                             "--preset's labels and windows; writes keyword_candidate_<run>.json in --out")
    args = parser.parse_args(argv)
    args.data = os.path.abspath(args.data)
    if args.candidate:
        result = candidate(args.candidate, args.preset, args.data, args.noise_volume, args.max_words)
        run = os.path.basename(os.path.dirname(os.path.abspath(args.candidate)))
        os.makedirs(args.out, exist_ok=True)
        noise = "" if args.noise_volume == QUIET_NOISE_VOLUME else f"_noise{args.noise_volume:g}"
        with open(os.path.join(args.out, f"keyword_candidate_{run}{noise}.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        for name in ("choice", "reachable_at_goal"):
            r = result[name]
            print(name, "none" if r is None else
                  f"smoothing {r['smoothing']}, threshold {r['threshold']}: {100 * r['detection_rate']:.1f} % "
                  f"({r['detected']}/{r['keywords']}), {r['false_alarms_per_hour']:.1f} false alarms per hour")
        return
    if args.render_only:
        with open(_path(args.out, args.preset, args.noise_volume, "json"), encoding="utf-8") as f:
            _write_pages(json.load(f), args.out)
        print(render_index(args.out))
        return
    import platform

    import keras

    machine = f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU"
    load = os.getloadavg()[0]
    results = {"preset": args.preset, "machine": machine, "load_average": round(load, 1),
               "backend": keras.backend.backend()}
    quiet = args.noise_volume == QUIET_NOISE_VOLUME
    operating_point = None
    if not quiet:
        path = _path(args.out, args.preset, QUIET_NOISE_VOLUME, "json")
        if not os.path.isfile(path):
            raise SystemExit(f"--noise-volume {args.noise_volume:g}: no {path} (this preset's run at "
                             f"{QUIET_NOISE_VOLUME:g}) to take the operating point from; run that first.")
        with open(path, encoding="utf-8") as f:
            chosen = json.load(f)["detection"]
        if chosen.get("max_words") != args.max_words:
            raise SystemExit(f"--noise-volume {args.noise_volume:g}: {path} was run with --max-words "
                             f"{chosen.get('max_words')}, this run with {args.max_words}.")
        operating_point = {"smoothing": chosen["smoothing"], "threshold": chosen["threshold"],
                           "noise_volume": chosen.get("noise_volume", QUIET_NOISE_VOLUME),
                           "from": os.path.relpath(path, os.path.join(HERE, ".."))}
        results["streams"] = []
        results["streams_note"] = (f"Not measured at noise volume {args.noise_volume:g} (detection only): see "
                                   f"`{os.path.basename(_path(args.out, args.preset, QUIET_NOISE_VOLUME, 'md'))}`.")
    elif args.keep_streams:
        path = _path(args.out, args.preset, QUIET_NOISE_VOLUME, "json")
        earlier = None
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                earlier = json.load(f)
        if earlier and earlier["streams"]:
            results["streams"] = earlier["streams"]
            results["streams_from"] = (earlier.get("streams_from")
                                       or {"machine": earlier["machine"], "commit": _commit(path)})
        else:
            results["streams"] = []
            results["streams_note"] = ("Not measured (`--keep-streams`: this run measured the detection only, and no "
                                       "earlier run of this benchmark timed this preset).")
    results["detection"] = detection(args.preset, args.data, args.noise_volume, operating_point, args.max_words)
    if "streams" not in results:
        results["streams"] = [_run_worker(args, b) for b in args.backends.split(",") if b]
    os.makedirs(args.out, exist_ok=True)
    with open(_path(args.out, args.preset, args.noise_volume, "json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    plot(results, _path(args.out, args.preset, args.noise_volume, "png"))
    _write_pages(results, args.out)
    print(render(results, os.path.basename(_path(args.out, args.preset, args.noise_volume, "png"))))


if __name__ == "__main__":
    main()
