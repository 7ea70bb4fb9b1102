"""Publishes the Speech Commands runs as the presets `zoo/speech_commands12_<layer>/`.

    .venv/bin/python scripts/publish_speech_commands_presets.py --runs runs \\
        --data ../shared/data/speech_commands_v0.02_test [--layers s5 s4d]

For each layer, `RUNS/speech_commands12_<layer>` (the recipe
`examples/recipes/speech_commands12_<layer>.json`) and its later stages
`RUNS/speech_commands12_<layer>_stage2`, ... (each warm-started from the one
before): the `best.keras` of the stage with the best validation accuracy
(fold 7; the test fold chooses nothing) becomes the preset. Its metrics are
measured here on the test fold (8) of `--data` at 16 kHz and zero-shot at
8 kHz, and on the bundled 120-clip subset (`examples/data/speech_commands12_test`).
When `benchmarks/results/keyword_spotting.json` holds this preset's figures
(`python -m benchmarks keyword_spotting --preset NAME`, run after a first
publication), the detection smoothing and threshold it chose on the validation
fold's stream, its streaming and detection figures with their intervals, its
choices and its plot go into the preset and its card.

    .venv/bin/python scripts/publish_speech_commands_presets.py --detection-only [--layers s5]

re-writes only that (the `detection`, `streaming` and detection `choices`
of the published preset's metadata, `detection.png`, the card and their
sha256) from the benchmark's JSON: no runs, no data, and config.json and the
weights stay byte for byte.
"""

import argparse
import json
import os
import shutil
import sys

import keras
import numpy as np

import keras_ssm
import keras_ssm.data
from keras_ssm.data.speech import SC12_LABELS
from keras_ssm import zoo
from keras_ssm.zoo import cards
from keras_ssm.zoo.evaluation import evaluate_preset
from keras_ssm.zoo.intervals import format_interval, metric_intervals
from keras_ssm.zoo.verify import check_metadata, sha256_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from publish_fsdd_presets import chosen_stages, hardware, replay_command, start_record, stop_record  # noqa: E402  (the same run bookkeeping)

SUBSET = os.path.join("examples", "data", "speech_commands12_test")
BENCHMARK = os.path.join("benchmarks", "results", "keyword_spotting.json")
LABELS = list(SC12_LABELS)
LAYER_NAMES = {"s4d": "S4D-LegS (Gu et al., NeurIPS 2022)", "s5": "S5 (Smith et al., ICLR 2023)"}
DATA = {
    "name": "Speech Commands v0.02, 12-class test set (Warden 2018)",
    "task": "sc12",
    "options": {"validation_folds": [7], "test_folds": [8]},
    "source": "Google's speech_commands_test_set_v0.02 (4,260 of its 4,890 clips, as copied in "
              "thegtagamer/PICO-tinyML-benchmark @ c66f6b0d78fe9218f6de9d07189691cfae077bee)",
    "license": "CC BY 4.0",
    "split": "speaker-disjoint folds (sha1 of the speaker id mod 10): folds 0-6 train (3,554 clips), fold 7 "
             "validation (265), fold 8 test (441); no speaker on two sides",
}
# The spotter's windows (the benchmark reads them from the preset); its smoothing and threshold are chosen by the
# benchmark on the validation fold's stream (`detection_metadata`).
DETECTION = {"window_seconds": 1.0, "hop_seconds": 0.1, "refractory_seconds": 1.0,
             "background": ["_silence_", "_unknown_"]}


def read_benchmark():
    """The keyword-spotting benchmark's results (`BENCHMARK`), or None."""
    if not os.path.isfile(BENCHMARK):
        return None
    with open(BENCHMARK, encoding="utf-8") as f:
        return json.load(f)


def detection_choices(benchmark):
    """The detection's decisions as the benchmark records them
    (`detection.choices`: scoring rule, smoothing, threshold), in the form of
    metadata `choices`; each decision starts with "detection "."""
    d = benchmark["detection"]
    choices = []
    for choice in d["choices"]:
        if choice["choice"] == "scoring rule":
            rule = d["rule"]
            decision = (f"detection scoring rule: a hit is a detection of the word's label from "
                        f"{rule['heard_fraction']:g} of the word heard to {rule['max_latency_seconds']:g} s after its "
                        "end, each word hit once; every other detection is a false alarm")
        else:
            decision = (f"detection {choice['choice']} {choice['value']} "
                        f"(candidates {', '.join(str(c) for c in choice['candidates'])})")
        where = choice["split"]  # e.g. "validation (fold 7 stream)", "none: fixed before any figure (...)"
        split = next((s for s in ("validation", "test") if where.startswith(s)), "none")
        detail = where[len(split):].strip(" :") if where.startswith(split) else where
        if detail.startswith("(") and detail.endswith(")"):
            detail = detail[1:-1]
        note = "; ".join(x for x in (detail, choice.get("criterion")) if x)
        choices.append({"decision": decision, "split": split, "note": note})
    return choices


def detection_metadata(name, benchmark):
    """`(detection, streaming, choices)` of preset `name` from the benchmark's
    results (`read_benchmark()`): the spotter's settings, with the smoothing and
    threshold the benchmark chose on the validation stream; and, when the
    benchmark is of this preset, its streaming and detection figures and its
    choices (else None and [])."""
    detection = dict(DETECTION)
    if benchmark is None:
        detection["threshold_note"] = ("no keyword_spotting benchmark was run: the smoothing and threshold are "
                                       "KeywordSpotter's defaults")
        return detection, None, []
    d = benchmark["detection"]
    detection.update(smoothing=d["smoothing"], threshold=d["threshold"])
    if benchmark["preset"] != name:
        detection["threshold_note"] = (f"not chosen for this preset: no keyword_spotting benchmark of it was run "
                                       f"(the smoothing and threshold chosen for {benchmark['preset']} on its "
                                       "validation stream)")
        return detection, None, []
    streaming = {"real_time_factor": {r["backend"]: r["real_time_factor"] for r in benchmark["streams"]},
                 "detection": {k: d[k] for k in ("threshold", "smoothing", "rule", "validation", "test", "windows")}}
    return detection, streaming, detection_choices(benchmark)


def with_detection_choices(choices, detection):
    """`choices` with its detection decisions (those starting "detection ")
    replaced by `detection`, in the place of the first one (else at the end)."""
    kept = [c for c in choices if not c["decision"].startswith("detection ")]
    first = next((i for i, c in enumerate(choices) if c["decision"].startswith("detection ")), len(choices))
    at = sum(1 for c in choices[:first] if not c["decision"].startswith("detection "))
    return kept[:at] + list(detection) + kept[at:]


def measure(folder, data_dir, meta):
    metrics = {"examples": 0}
    for rate, key in ((16000, "accuracy"), (8000, "accuracy_8000hz")):
        result = evaluate_preset(folder, data_dir, sample_rate=rate, verbose=0)
        metrics[key], metrics["examples"] = result["accuracy"], result["examples"]
        print(f"{meta['name']} at {rate} Hz: {result['correct']}/{result['examples']} = {100 * result['accuracy']:.2f} %")
    subset = {"data": SUBSET}
    for rate, key in ((16000, "accuracy"), (8000, "accuracy_8000hz")):
        result = evaluate_preset(folder, SUBSET, sample_rate=rate, verbose=0)
        subset[key], subset["examples"] = result["accuracy"], result["examples"]
    metrics["subsets"] = [subset]
    return metrics


def confusion(model, data_dir):
    data = keras_ssm.data.load("sc12", data_dir, batch_size=64, **DATA["options"], shuffle=False)
    y_true, y_pred = [], []
    for x, y in data.test:
        y_pred.append(np.argmax(model.predict(x, verbose=0), -1))
        y_true.append(y.numpy())
    return cards.confusion_matrix(np.concatenate(y_true), np.concatenate(y_pred), len(LABELS))


def card(meta, bench):
    m, a, t = meta["metrics"], meta["architecture"], meta["training"]
    name, sub = meta["name"], meta["metrics"]["subsets"][0]
    stage_lines = "\n".join(
        f"| {i} | `{st['recipe']}` | {st['epochs']}{' (stopped)' if 'stopped_after' in st else ''} | {st['best_epoch']} | "
        f"{100 * st['best_val_accuracy']:.1f} % | {st['seconds'] / 60:.0f} min |" for i, st in enumerate(t["stages"], 1))
    per_class = " | ".join(f"{label} {100 * acc:.0f}" for label, acc in zip(LABELS, m["per_class_accuracy"]))
    streaming = detection = ""
    if bench:
        rows = "\n".join(
            f"| {r['backend']} | " + " | ".join(f"{r['real_time_factor'][ms]:.0f}×" for ms in ("10", "20", "100", "330"))
            + f" | {r['memory_mb'][0][1]:.0f} → {r['memory_mb'][-1][1]:.0f} MB |" for r in bench["streams"])
        streaming = f"""
## Streaming

The whole model, front end included, streams chunk by chunk with its state carried
(`keras_ssm.models.streaming.ClassifierStream`, chunks of any length): the logits after each chunk equal
the full pass over the samples so far (to 1e-5, tested on every backend, chunks that do not divide the
stride included), and the state has a fixed size. One stream on {bench['machine']}, seconds of audio per
second of compute (median chunk), and the process's memory over {bench['streams'][0]['hours']:g} h of audio:

| backend | 10 ms chunks | 20 ms | 100 ms | 330 ms | memory over the hour |
|---|---|---|---|---|---|
{rows}
"""
        d = bench["detection"]
        test, v, w, rule = d["test"], d["validation"], d["windows"], d["rule"]
        candidates = {c["choice"]: c.get("candidates") for c in d["choices"]}
        edge = [f"the {key} ({d[key]}) is the {'largest' if d[key] == max(grid) else 'smallest'} candidate"
                for key, grid in candidates.items() if grid and d[key] in (max(grid), min(grid))]
        detection = f"""
## Continuous detection

`python -m keras_ssm zoo stream {name} --wav FILE` prints each keyword and its time
(`keras_ssm.models.keyword_spotter.KeywordSpotter` with this preset's `detection` settings: every
{1000 * w['hop_seconds']:.0f} ms the last {w['window_seconds']:g} s is scored exactly as a clip, by
{int(round(w['window_seconds'] / w['hop_seconds']))} staggered streams in one batch; a keyword is reported when its
probability, averaged over the last {d['smoothing']} windows, reaches the threshold, once per
{w['refractory_seconds']:g} s).
On a {d['sweeps']['test']['seconds'] / 60:.0f}-minute stream of every word of the test fold
({test['keywords']} keywords and the `_unknown_` words, 1-3 s gaps over the fold's background noise at
volume 0.1), with smoothing over **{d['smoothing']}** windows and threshold **{d['threshold']}**, both chosen
on the same kind of stream from the validation fold
({100 * v['detection_rate']:.1f} % of keywords and {v['false_alarms_per_hour']:.1f} false alarms per hour there{
'; ' + ', '.join(edge) if edge else ''}), the test stream scored once:
**{100 * test['detection_rate']:.1f} % of keywords detected {format_interval(test['detection_rate_interval'])}
({test['detected']}/{test['keywords']}), {test['false_alarms_per_hour']:.1f} false alarms per hour
{format_interval(test['false_alarms_per_hour_interval'], percent=False)}**
({test['false_alarms']} in {60 * test['hours']:.1f} min).
A keyword is detected by a detection of its label from {rule['heard_fraction']:g} of the word heard to
{rule['max_latency_seconds']:g} s after its end, once; every other detection (a second one, a wrong label, an
`_unknown_` word, noise) is a false alarm (`keras_ssm.data.keyword_stream.score`, fixed before any figure).
95 % intervals: Wilson for the share detected, Garwood for false alarms per hour. Real-time factor of the
spotter {d['sweeps']['test']['real_time_factor']:.0f}× (load average {bench['load_average']:g} on that machine).
The sweep over smoothings and thresholds: `benchmarks/results/keyword_spotting.md`.

![detection score over the first minute of the test stream](detection.png)
"""
    return f"""# {name}

A 12-class keyword spotter (`_silence_`, `_unknown_`, yes, no, up, down, left, right, on, off, stop, go) built
on {LAYER_NAMES[a['layer']]}, trained by keras_ssm on Speech Commands v0.02. It takes **raw 16 kHz audio** and
is causal: it streams with a constant-size state, and runs zero-shot on 8 kHz audio.

```python
import keras_ssm
model = keras_ssm.zoo.load("{name}")   # verified (sha256) before it is built
logits = model(audio)                  # float32 (batch, samples, 1) in [-1, 1) at 16 kHz; 1 s clips
model_8k = keras_ssm.zoo.load("{name}", sample_rate=8000)  # zero-shot at 8 kHz
```

## Results (fold 8: {m['examples']} clips of speakers never seen in training; {cards.results_note(meta)})

| input | accuracy [95 % CI] | how |
|---|---|---|
| 16 kHz | {cards.accuracy_cell(m, 'accuracy', bold=True)} | the trained rate |
| 8 kHz | {cards.accuracy_cell(m, 'accuracy_8000hz')} | zero-shot: resampled input, `sample_rate=8000` (the front end's windows follow in samples), no retraining |

Per class (%): {per_class}.
Reproduce: `{meta['evaluate']}`; the bundled 120-clip subset of fold 8 gives {cards.accuracy_cell(sub, 'accuracy')} (8 kHz:
{cards.accuracy_cell(sub, 'accuracy_8000hz')}): `python -m keras_ssm zoo evaluate {name} --data {SUBSET} --rate 16000 --rate 8000`.

![confusion matrix, fold 8, 16 kHz](confusion_matrix.png)

**Against the anchors** (`../shared/research/zoo-anchors.md` §3, the same 12-class task): small KWS networks
trained on the full 85k-clip training split reach 95-98 % (DS-CNN 119K parameters 96.65 %, MatchboxNet 75K 98.0 %,
BC-ResNet-1 9.2K 96.9 %), and a causal S5 of 208K parameters (S-Edge) 95.8 %. This preset saw
{t['train_clips']:,} training clips, about 22× less data, and {meta['parameters']:,} parameters: the gap is mostly data.
{streaming}{detection}
## Model

`SSMClassifier(SSMBackbone("{a['layer']}", depth={a['depth']}, width={a['width']}, input_dim=1,
layer_kwargs={json.dumps(a['layer_kwargs'])}, frontend={json.dumps(a['frontend'])},
dropout={a['dropout']}), num_classes=12)`: a causal log-mel front end inside the model
(`keras_ssm.layers.frontend.LogMelFrontend`: 25 ms Hann windows every 10 ms, each frame reaching back only,
as one strided real convolution with the DFT basis — no FFT, so it exports — then 40 mel bands and a log),
a `Dense` encoder, {a['depth']} residual SSM blocks at 100 frames per second, masked mean pooling and a linear
head. {meta['parameters']:,} trained parameters. The input is the samples themselves (int16 / 32768).

## Training

| stage | recipe | epochs | best epoch | best validation (fold 7) | time |
|---|---|---|---|---|---|
{stage_lines}

{t['epochs']} epochs in {t['seconds'] / 60:.0f} min on {t['hardware']}, Keras {meta['versions']['keras']} on the
{t['backend']} backend; each stage warm-starts from the best epoch of the one before, and the stage of best
validation accuracy is published. AdamW with the papers' groups (Λ, B, Δ at their own rate, no weight
decay), warmup then cosine decay, batch 32. Each epoch every training clip is drawn anew through
augmentation: a shift of up to 100 ms (250 ms in the later stages), a gain within ±6 dB, a speed within
±10 %, the training folds' background noise mixed in (probability 0.8, volume up to 0.1) and, with
probability 1/2, a low-pass to what an 8 kHz recording holds (so the 8 kHz zero-shot input is no surprise;
it is still trained at 16 kHz only); the later stages add SpecAugment masks on the log-mel frames
(`keras_ssm.layers.spec_augment`, training only). Continue with a recipe whose `warm_start` is the last
stage's `best.keras`.

![learning curve](learning_curve.png)

{cards.choices_section(meta)}
## Data and license

{DATA['name']}: {DATA['source']}; {DATA['license']}. Split: {DATA['split']}.

## Limits

3,554 training clips (folds 0-6 of the official test set): less robust than the anchors' models to new voices,
far-field audio and noise types absent from the training folds; `_unknown_` (other words) is the weakest class.
The detector scores one-second windows as the clips were scored in training: a word cut by a window's edge can
trigger early or under another label (the false alarms of `benchmarks/results/keyword_spotting.md`).
"""


def publish(layer, runs, data_dir, out_root):
    name = f"speech_commands12_{layer}"
    dirs, summaries, recipes, model = chosen_stages(runs, name)
    spec = recipes[-1]["model"]
    benchmark = read_benchmark()
    bench = benchmark if benchmark and benchmark["preset"] == name else None
    detection, streaming, choices = detection_metadata(name, benchmark)
    # Decisions a published preset recorded by hand (one made after a test figure was seen) carry over.
    published = os.path.join(out_root, name)
    recorded = [c for c in zoo.describe(published).get("choices", []) if c["split"] == "test"
                and not c["decision"].startswith("detection ")] if os.path.isdir(published) else []
    stage_info = [
        {"recipe": f"examples/recipes/{os.path.basename(d)}.json", "epochs": s["epochs"], "best_epoch": s["best_epoch"],
         "best_val_accuracy": s["best_val_accuracy"], "seconds": s["seconds"],
         **stop_record(s), **start_record(s, r),
         "spec": {k: r[k] for k in ("seed", "epochs", "model", "optimizer")}
         | {"data": {k: v for k, v in r["data"].items() if k != "path"}}}
        for d, s, r in zip(dirs, summaries, recipes)
    ]
    meta = {
        "name": name,
        "description": f"12-class keyword spotting from raw 16 kHz audio, {LAYER_NAMES[layer]}, causal, streaming.",
        "task": "keyword-spotting",
        "labels": LABELS,
        "input": {
            "shape": [None, 1], "dtype": "float32", "sample_rate": 16000, "range": "[-1, 1)",
            "clip_seconds": 1.0,
            "padding_mask": "optional: call the model on (audio, mask), mask (batch, samples) bool, True at real samples",
            "preprocessing": "int16 PCM / 32768 (nothing else: the log-mel front end is inside the model)",
        },
        "data": DATA,
        "architecture": {**{k: spec.get(k) for k in ("layer", "depth", "width", "layer_kwargs", "frontend",
                                                      "spec_augment", "activation", "dropout")},
                         "causal": True, "stride": model.backbone.stride},
        "detection": detection,
        "metrics": {},
        "evaluate": f"python -m keras_ssm zoo evaluate {name} --data {os.path.relpath(data_dir, ROOT)} --rate 16000 --rate 8000",
        "training": {
            "command": replay_command(stage_info),
            "stages": stage_info,
            "epochs": sum(s["epochs"] for s in summaries),
            "seconds": round(sum(s["seconds"] for s in summaries), 1),
            "hardware": hardware(), "backend": summaries[0]["backend"], "train_clips": 3554,
        },
    }
    folder = os.path.join(out_root, name)
    zoo.save_preset(model, folder, meta)
    meta["metrics"] = measure(folder, data_dir, meta)
    matrix = confusion(model, data_dir)
    meta["metrics"]["confusion_matrix"] = matrix.tolist()
    meta["metrics"]["per_class_accuracy"] = (matrix.diagonal() / matrix.sum(1)).round(4).tolist()
    meta["metrics"] = metric_intervals(meta["metrics"])
    meta["choices"] = cards.training_choices(stage_info, "validation (fold 7)")
    meta["choices"] += choices + recorded
    cards.plot_confusion_matrix(matrix, LABELS, os.path.join(folder, "confusion_matrix.png"), f"{name}, fold 8, 16 kHz")
    cards.plot_learning_curve(cards.read_history([os.path.join(d, "metrics.csv") for d in dirs]),
                              os.path.join(folder, "learning_curve.png"), name, "validation (fold 7)")
    if bench:
        shutil.copyfile(os.path.join("benchmarks", "results", "keyword_spotting.png"), os.path.join(folder, "detection.png"))
        meta["streaming"] = streaming
    meta["parameters"] = int(model.count_params())
    meta["versions"] = {"keras": keras.__version__, "keras_ssm": keras_ssm.__version__, "backend": keras.backend.backend()}
    cards.write(folder, card(meta, bench))
    zoo.save_preset(model, folder, meta)
    print(f"wrote {folder}")


def refresh_detection(layer, out_root):
    """Re-writes a published preset's detection metadata, `detection.png` and
    card from the benchmark's results; nothing else of the preset changes."""
    name = f"speech_commands12_{layer}"
    folder = os.path.join(out_root, name)
    zoo.load(folder)  # verified (sha256 of every file) before anything is re-written
    benchmark = read_benchmark()
    bench = benchmark if benchmark and benchmark["preset"] == name else None
    detection, streaming, choices = detection_metadata(name, benchmark)
    path = os.path.join(folder, "metadata.json")

    def updated():
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        meta["detection"] = detection
        if streaming:
            meta["streaming"] = streaming
        meta["choices"] = with_detection_choices(meta.get("choices", []), choices)
        return meta

    meta = updated()
    if bench:
        shutil.copyfile(os.path.join("benchmarks", "results", "keyword_spotting.png"), os.path.join(folder, "detection.png"))
    cards.write(folder, card(meta, bench))
    meta = updated()  # read again right before writing: other keys are another process's to change
    for file in ("README.md", "detection.png"):
        if os.path.isfile(os.path.join(folder, file)):
            meta["files"][file] = sha256_file(os.path.join(folder, file))
    check_metadata(meta)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    zoo.load(folder)  # the re-written files verify
    print(f"re-wrote the detection of {folder}: smoothing {detection.get('smoothing')}, threshold "
          f"{detection.get('threshold')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--data", help="the 12-class v0.02 test set's folder (part*.npz)")
    parser.add_argument("--layers", nargs="+", default=["s5", "s4d"], choices=["s5", "s4d"])
    parser.add_argument("--out", default="zoo")
    parser.add_argument("--detection-only", action="store_true",
                        help="re-write the published presets' detection metadata and cards from the benchmark")
    args = parser.parse_args()
    if not args.detection_only and args.data is None:
        parser.error("--data is required to publish (it measures the test fold); --detection-only needs none")
    data_dir = None if args.data is None else os.path.abspath(args.data)
    os.chdir(ROOT)
    for layer in args.layers:
        if args.detection_only:
            refresh_detection(layer, args.out)
        else:
            publish(layer, args.runs, data_dir, args.out)


if __name__ == "__main__":
    main()
