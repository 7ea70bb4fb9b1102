"""Publishes the FSDD training runs as the bundled presets `zoo/fsdd_<layer>/`.

    .venv/bin/python scripts/publish_fsdd_presets.py --runs runs [--layers s4d dss s5] \
        [--candidates RUN_DIR ...]

For each layer, the run folder `RUNS/fsdd_<layer>` (the recipe
`examples/recipes/fsdd_<layer>.json`; further stages `RUNS/fsdd_<layer>_stage2`,
... when training went on, each warm-starting from the previous one): the
`best.keras` of the stage with the best validation accuracy (the test split
never chose anything) becomes the preset.

`--candidates`: run folders of the variants that were compared before the
recipe was fixed (each with its `recipe.json` and `best.keras`). They are
evaluated here on the validation split, at 8 kHz and zero-shot at 4 kHz, and
`choose_candidate` picks one by a rule fixed before any was trained; the
recipe of the preset must be the chosen one's. The comparison is recorded in
the preset's `choices`.

Only then is the test split read, once: the preset's metrics are measured with
`keras_ssm.zoo.evaluation.evaluate_preset` on the bundled test split
(`examples/data/fsdd_test`) at 8 kHz and zero-shot at 4 and 16 kHz; the model
card, learning curve and confusion matrix are written beside it.
"""

import argparse
import glob
import json
import os
import platform

import keras
import numpy as np

import keras_ssm
from keras_ssm import zoo
from keras_ssm.zoo import cards
from keras_ssm.zoo.evaluation import evaluate_preset
from keras_ssm.training import recipe as recipe_lib
from keras_ssm.zoo.intervals import metric_intervals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA = os.path.join("examples", "data", "fsdd_test")
RATES = (8000, 4000, 16000)
LABELS = [str(d) for d in range(10)]
LAYER_NAMES = {
    "s4d": "S4D-LegS (Gu et al., NeurIPS 2022)",
    "dss": "DSS-exp (Gupta et al., NeurIPS 2022)",
    "s5": "S5 (Smith et al., ICLR 2023)",
}
DATA = {
    "name": "Free Spoken Digit Dataset (FSDD)",
    "task": "fsdd",
    "options": {"return_mask": True},
    "source": "github.com/Jakobovski/free-spoken-digit-dataset @ 26eb9aaf76e81b692f806f9140c2d2777410d7a1, recordings/",
    "license": "CC BY-SA 4.0",
    "split": "canonical: repetitions 0-4 test (300 clips), 5-49 train; validation = repetitions 5-9 of the "
    "training part (300 clips), training on 10-49 (2,400 clips)",
    "speakers": "6 adult male speakers, in every split",
}


def hardware():
    cpu = "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores of an {cpu} ({platform.machine()}), no GPU"


def stages(runs, name):
    first = os.path.join(runs, name)
    rest = sorted(glob.glob(os.path.join(runs, f"{name}_stage*")), key=lambda p: int(p.rsplit("stage", 1)[1]))
    return [d for d in [first, *rest] if os.path.isfile(os.path.join(d, "best.keras"))]


def summary(folder):
    """The run's summary.json, or, for a run stopped before its last epoch (the
    session's end), one read from its metrics.csv: epochs done, the best one,
    and the wall time from the recipe's writing to the last metrics row."""
    path = os.path.join(folder, "summary.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    rows = cards.read_history([os.path.join(folder, "metrics.csv")])
    best = max(range(len(rows)), key=lambda i: (rows[i]["val_accuracy"], -i))
    with open(os.path.join(folder, "recipe.json"), encoding="utf-8") as f:
        planned = json.load(f)["epochs"]
    seconds = os.path.getmtime(os.path.join(folder, "metrics.csv")) - os.path.getmtime(os.path.join(folder, "recipe.json"))
    return {"epochs": len(rows), "planned_epochs": planned, "best_epoch": best + 1,
            "best_val_accuracy": rows[best]["val_accuracy"], "seconds": round(seconds, 1), "backend": "jax",
            "interrupted": True}


def chosen_stages(runs, name):
    """The stages up to the one of best validation accuracy (the later one on
    a tie; the test split chooses nothing): `(dirs, summaries, recipes, model)`,
    `model` that stage's `best.keras`."""
    dirs = stages(runs, name)
    if not dirs:
        raise SystemExit(f"no run of {name} under {runs}")
    summaries = [summary(d) for d in dirs]
    chosen = max(range(len(dirs)), key=lambda i: (summaries[i]["best_val_accuracy"], i))
    dirs, summaries = dirs[: chosen + 1], summaries[: chosen + 1]
    recipes = []
    for d in dirs:
        with open(os.path.join(d, "recipe.json"), encoding="utf-8") as f:
            recipes.append(json.load(f))
    model = keras.saving.load_model(os.path.join(dirs[-1], "best.keras"), safe_mode=True)
    return dirs, summaries, recipes, model


GOAL_4000HZ = 0.93  # the zero-shot goal
FRONT_END_CHOICE = {
    "decision": "a new model: the log-mel front end (25 ms windows, 10 ms hop, 40 bands to 4 kHz) and SpecAugment "
                "of the keyword spotters in place of pooled raw samples, taken from the literature (issue #31); "
                "the issue was filed after the earlier raw-audio presets' test figures (91.0 / 96.0 / 95.7 %) "
                "had been published",
    "split": "test",
    "note": "a new model trained from scratch, not more training of the old one; every later choice on validation",
}


def choose_candidate(results):
    """Index of the candidate kept, by the rule fixed before any candidate was
    trained: among those whose validation accuracy zero-shot at 4 kHz reaches
    the goal (93 %), the best validation accuracy at 8 kHz; when none reaches
    it, the best at 4 kHz. Ties go to the earlier candidate (the simpler one is
    listed first)."""
    reached = [i for i, r in enumerate(results) if r["accuracy_4000hz"] >= GOAL_4000HZ]
    if reached:
        return max(reached, key=lambda i: (results[i]["accuracy"], -i))
    return max(range(len(results)), key=lambda i: (results[i]["accuracy_4000hz"], -i))


def _recipe_core(spec):
    """A parsed recipe without what does not change the run: its name, where the data lies, hashes."""
    return {k: ({f: v for f, v in val.items() if f != "path"} if k == "data" else val)
            for k, val in spec.items() if k not in ("name", "warm_start_sha256")}


def compare_candidates(folders, layer):
    """The candidates of `layer` among run `folders`, evaluated on the
    validation split at 8 kHz and zero-shot at 4 kHz: `(chosen recipe, choices)`.
    Refuses when the preset's recipe is not the chosen candidate's."""
    runs = [d for d in folders if _read_json(os.path.join(d, "recipe.json"))["model"]["layer"] == layer]
    if not runs:
        return []
    results = []
    for d in runs:
        spec = _read_json(os.path.join(d, "recipe.json"))
        model = os.path.join(d, "best.keras")
        results.append({
            "accuracy": recipe_lib.evaluate(spec, model, verbose=0)["accuracy"],
            "accuracy_4000hz": recipe_lib.evaluate(spec, model, verbose=0, sample_rate=4000)["accuracy"],
            "recipe": spec,
        })
    chosen = choose_candidate(results)
    preset_recipe = recipe_lib.parse_recipe(os.path.join("examples", "recipes", f"fsdd_{layer}.json"))
    if _recipe_core(preset_recipe) != _recipe_core(results[chosen]["recipe"]):
        raise SystemExit(f"examples/recipes/fsdd_{layer}.json is not the chosen candidate's recipe "
                         f"({runs[chosen]}/recipe.json): make it so, or pass the right --candidates")
    lines = "; ".join(
        f"{os.path.basename(d)} ({_variant(r['recipe'])}): {100 * r['accuracy']:.2f} % at 8 kHz, "
        f"{100 * r['accuracy_4000hz']:.2f} % zero-shot at 4 kHz" for d, r in zip(runs, results))
    if len(runs) == 1:
        return [{"decision": f"{_variant(results[0]['recipe'])}: the variant the other layers' candidates chose by "
                             "the rule (validation zero-shot 4 kHz >= 93 %, then validation at 8 kHz); only it was "
                             f"trained for this layer. Validation: {lines}",
                 "split": "validation"}]
    return [{"decision": f"recipe chosen among {len(runs)} candidates by the rule fixed before they were trained "
                         f"(validation zero-shot 4 kHz >= {100 * GOAL_4000HZ:.0f} %, then the best validation "
                         f"accuracy at 8 kHz): {os.path.basename(runs[chosen])}. Validation: {lines}",
             "split": "validation"}]


def _variant(spec):
    data = spec["data"]
    if data.get("band_limit_rate"):
        return f"band-limit {data['band_limit_rate']} Hz with probability {data.get('band_limit_probability', 0.5)}"
    return "no band limit"


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def start_record(summary, recipe):
    """What a stage started from, for its entry in metadata["training"]["stages"]:
    `warm_start` (a path relative to the repository root, where the chain's
    commands run, or a preset's name) and the sha256 of that file as its run
    recorded it (`summary.json`, or the `recipe.json` of a run stopped before
    its end); null, with a note, for a run trained before runs recorded it.
    Nothing is hashed here: the file may have changed since the stage read it."""
    if not recipe.get("warm_start"):
        return {}
    start = recipe["warm_start"]
    digest = summary.get("warm_start_sha256") or recipe.get("warm_start_sha256")
    return {"warm_start": os.path.relpath(start, ROOT) if os.path.isabs(start) else start,
            "warm_start_sha256": digest, **({} if digest else {"warm_start_note": "not recorded when trained"})}


def stop_record(summary, reason=""):
    """`stopped_after` for a stage that ran fewer epochs than its recipe's (`reason`
    added when the run was cut off, not stopped by `--stop-after`)."""
    planned = summary.get("planned_epochs", summary["epochs"])
    if summary["epochs"] >= planned:
        return {}
    return {"stopped_after": f"{summary['epochs']} of {planned} epochs{reason if summary.get('interrupted') else ''}"}


def replay_command(stages):
    """The one command that replays a preset's stage chain from stage 1, from the
    repository root: each stage into `runs/<its recipe's name>`, where the next
    stage's `warm_start` reads it, and a stage that stopped early with
    `--stop-after` (the epochs it ran, on its recipe's schedule)."""
    return " && ".join(
        f"python -m keras_ssm train {s['recipe']} --out runs/{os.path.splitext(os.path.basename(s['recipe']))[0]}"
        + (f" --stop-after {s['epochs']}" if "stopped_after" in s else "")
        for s in stages
    )


def card(meta, rows):
    m, t, a = meta["metrics"], meta["training"], meta["architecture"]
    name, front = meta["name"], a["frontend"]
    limited = [i for i, st in enumerate(t["stages"], 1) if st["spec"]["data"].get("band_limit_rate")]
    augmentation = (
        "Each training clip was also low-passed, with probability 1/2 per epoch, to what a 4 kHz recording "
        "holds (band-limit augmentation, `keras_ssm.data.augment.band_limit`), so that the model does not lean "
        "on the band above 2 kHz that a 4 kHz input lacks; it is still trained at 8 kHz only (chosen on "
        "validation, see Choices).\n\n" if limited else ""
    )
    spec_augment = a.get("spec_augment") or {}
    stage_lines = "\n".join(
        f"| {i} | `{s['recipe']}` | {s['epochs']}{' (stopped)' if 'stopped_after' in s else ''} | {s['best_epoch']} | "
        f"{100 * s['best_val_accuracy']:.1f} % | "
        f"{s['seconds'] / 60:.0f} min |"
        for i, s in enumerate(t["stages"], 1)
    )
    return f"""# {name}

A spoken-digit classifier (0-9) built on {LAYER_NAMES[a['layer']]}, trained by keras_ssm on the
Free Spoken Digit Dataset. It takes **raw 8 kHz audio** and computes log-mel frames inside (a causal
front end), so it is one model from samples to digit. Causal (unidirectional): it streams, chunk by
chunk, with a constant-size state.

```python
import keras_ssm
model = keras_ssm.zoo.load("{name}")                      # verified (sha256) before it is built
logits = model(audio)                                      # audio: float32 (batch, samples, 1) in [-1, 1) at 8 kHz
logits = model((audio, mask))                              # a padded batch: mask (batch, samples) bool
model_4k = keras_ssm.zoo.load("{name}", sample_rate=4000)  # zero-shot at 4 kHz (the front end's windows follow)
```

## Results (test split, 300 clips; {cards.results_note(meta)})

| input rate | accuracy [95 % CI] | how |
|---|---|---|
| 8 kHz | {cards.accuracy_cell(m, 'accuracy', bold=True)} | the trained rate |
| 4 kHz | {cards.accuracy_cell(m, 'accuracy_4000hz')} | zero-shot: input resampled, `sample_rate=4000`, no retraining |
| 16 kHz | {cards.accuracy_cell(m, 'accuracy_16000hz')} | zero-shot: input resampled, `sample_rate=16000` |

Zero-shot: the front end's windows and filters are set in seconds and Hz, so at another rate it measures
the same bands and the SSMs see the same frame rate; at 4 kHz the bands above 2 kHz are empty.
Reproduce: `{meta['evaluate']}` (on the bundled copy of the test split; exact to the clip).
Anchors: S4 on FSDD reports 97 % from raw audio (annotated-s4 PR #43); models on spectral features
reach 97-99 %.

![confusion matrix at 8 kHz](confusion_matrix.png)

{cards.per_class_section(m["confusion_matrix_8000hz"], LABELS)}
## Model

`SSMClassifier(SSMBackbone("{a['layer']}", depth={a['depth']}, width={a['width']}, layer_kwargs={json.dumps(a['layer_kwargs'])},
frontend={json.dumps(front)}, spec_augment={json.dumps(spec_augment)}, norm="batch", prenorm=True,
activation="{a['activation']}", dropout={a['dropout']}), num_classes=10)`: a log-mel front end
(`LogMelFrontend`: {1000 * front['frame_seconds']:.0f} ms Hann windows every {1000 * front['hop_seconds']:.0f} ms,
{front['num_mel_bins']} mel bands up to {front.get('upper_edge_hertz', 8000) / 1000:g} kHz, log energies; nothing
trained), SpecAugment while training ({spec_augment.get('freq_masks', 0)} frequency mask(s) of up to
{spec_augment.get('freq_width', 0)} bands, {spec_augment.get('time_masks', 0)} time mask(s) of up to
{spec_augment.get('time_width', 0)} frames), a `Dense` encoder, {a['depth']} residual SSM blocks at
{1 / front['hop_seconds']:.0f} frames per second, masked mean pooling over time and a linear head;
{meta['parameters']:,} parameters. All preprocessing is inside the model: it takes the samples
themselves (int16 / 32768).

## Training

Recipe CLI (`{t['command']}`), AdamW with the papers' groups (SSM parameters Λ, B, Δ at their own
learning rate with no weight decay), warmup then cosine decay, batch 16, length-bucketed batches with
padding masks; the epoch kept is the one of best validation accuracy.

| stage | recipe | epochs | best epoch | best validation | time |
|---|---|---|---|---|---|
{stage_lines}

{augmentation}{t['seconds'] / 60:.0f} min in all on {t['hardware']}, Keras {meta['versions']['keras']} on the
{t['backend']} backend.

![learning curve](learning_curve.png)

{cards.choices_section(meta)}
## Data and license

{DATA['name']}: {DATA['source']}; {DATA['license']} (the weights are derived from it; share alike).
Split: {DATA['split']}. {DATA['speakers']}.

## Limits

Six male speakers with the same recording set-up in train and test (the canonical split is by repetition,
not speaker): the test accuracy says little about new voices, other microphones or noise. Isolated digits
only (no silence / unknown class). The validation split (300 clips) resolves about one point: several
epochs come within a clip or two of the best, and the first epoch of the best accuracy is kept.
"""


def publish(layer, runs, out_root, candidates=()):
    name = f"fsdd_{layer}"
    candidate_choices = compare_candidates(candidates, layer)
    dirs, summaries, recipes, model = chosen_stages(runs, name)
    spec = recipes[0]["model"]
    stage_info = [
        {
            "recipe": f"examples/recipes/{os.path.basename(d)}.json",
            "spec": {
                "seed": r["seed"], "epochs": r["epochs"], "model": r["model"], "optimizer": r["optimizer"],
                "data": {k: v for k, v in r["data"].items() if k != "path"},
                **({"warm_start": os.path.relpath(r["warm_start"], ROOT)} if r.get("warm_start") else {}),
            },
            **start_record(s, r),
            "epochs": s["epochs"], "best_epoch": s["best_epoch"],
            **stop_record(s, " (the session ended)"),
            "best_val_accuracy": s["best_val_accuracy"], "seconds": s["seconds"],
        }
        for d, s, r in zip(dirs, summaries, recipes)
    ]
    evaluate = f"python -m keras_ssm zoo evaluate {name} --data {TEST_DATA} " + " ".join(f"--rate {r}" for r in RATES)
    meta = {
        "name": name,
        "description": f"Spoken digits 0-9 from raw 8 kHz audio through a log-mel front end, "
                       f"{LAYER_NAMES[layer]}, causal.",
        "task": "audio-classification",
        "labels": LABELS,
        "input": {
            "shape": [None, 1], "dtype": "float32", "sample_rate": 8000, "range": "[-1, 1)",
            "padding_mask": "optional: call the model on (audio, mask), mask (batch, samples) bool, True at real samples",
            "preprocessing": "int16 PCM / 32768 (nothing else: the model computes its log-mel frames inside)",
        },
        "data": DATA,
        "architecture": {**{k: spec[k] for k in ("layer", "depth", "width", "layer_kwargs", "frontend", "spec_augment",
                                                 "activation", "dropout")},
                         "causal": True, "stride": round(spec["frontend"]["hop_seconds"] * 8000)},
        "metrics": {},
        "evaluate": evaluate,
        "training": {
            "stages": stage_info,
            "seconds": round(sum(s["seconds"] for s in summaries), 1),
            "hardware": hardware(),
            "backend": summaries[0]["backend"],
            "command": replay_command(stage_info),
        },
    }
    folder = os.path.join(out_root, name)
    zoo.save_preset(model, folder, meta)
    for rate in RATES:
        result = evaluate_preset(folder, TEST_DATA, sample_rate=rate, verbose=0)
        key = "accuracy" if rate == 8000 else f"accuracy_{rate}hz"
        meta["metrics"][key] = result["accuracy"]
        print(f"{name} at {rate} Hz: {result['correct']}/{result['examples']} = {100 * result['accuracy']:.2f} %")
    data = keras_ssm.data.load("fsdd", TEST_DATA, return_mask=True, batch_size=32)
    y_true, y_pred = [], []
    for inputs, labels in data.test:
        y_pred.append(np.argmax(model.predict(inputs, verbose=0), -1))
        y_true.append(labels.numpy())
    matrix = cards.confusion_matrix(np.concatenate(y_true), np.concatenate(y_pred), 10)
    meta["metrics"]["confusion_matrix_8000hz"] = matrix.tolist()
    meta["metrics"]["examples"] = int(matrix.sum())
    meta["metrics"] = metric_intervals(meta["metrics"])
    meta["choices"] = [FRONT_END_CHOICE, *candidate_choices,
                       *cards.training_choices(stage_info, "validation (repetitions 5-9)")]
    cards.plot_confusion_matrix(matrix, LABELS, os.path.join(folder, "confusion_matrix.png"), f"{name}, test, 8 kHz")
    rows = cards.read_history([os.path.join(d, "metrics.csv") for d in dirs])
    cards.plot_learning_curve(rows, os.path.join(folder, "learning_curve.png"), name, "validation (repetitions 5-9)")
    meta["parameters"] = int(model.count_params())
    meta["versions"] = {"keras": keras.__version__, "keras_ssm": keras_ssm.__version__, "backend": keras.backend.backend()}
    cards.write(folder, card(meta, rows))
    zoo.save_preset(model, folder, meta)
    print(f"wrote {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs", help="folder of the run folders")
    parser.add_argument("--layers", nargs="+", default=["s4d", "dss", "s5"], choices=["s4d", "dss", "s5"])
    parser.add_argument("--out", default="zoo", help="the presets' root folder")
    parser.add_argument("--candidates", nargs="*", default=[],
                        help="run folders of the variants compared before the recipes were fixed")
    args = parser.parse_args()
    os.chdir(ROOT)
    for layer in args.layers:
        publish(layer, args.runs, args.out, args.candidates)


if __name__ == "__main__":
    main()
