"""Publishing training runs as presets: one path for every family.

`python -m keras_ssm zoo publish FAMILY ...` (`keras_ssm.cli_zoo`) runs it
from the repository root. A preset `NAME` is trained by the recipe
`examples/recipes/NAME.json`: stage 1 into `RUNS/NAME`, stage k into
`RUNS/NAME_stage<k>` (`run_folder`). The stage of best validation accuracy
is published (`chosen_stages`; the test split chooses nothing); its test
accuracy is measured once, here, on the saved preset (`measure`); its
metadata records every stage, the one command that replays them, the machine
and the choices; its card is rendered from that metadata alone
(`keras_ssm.zoo.cards.render`), so `refresh_card` can re-render it later
without touching the weights.

The families differ in data, rates and what they measure besides accuracy
(`keras_ssm.zoo.publish_families`): `publish_fsdd`, `publish_speech_commands`
(and `refresh_detection`), `publish_lra`.

>>> run_folder("runs", "fsdd_s5", 3)
'runs/fsdd_s5_stage3'
"""

import glob
import json
import os
import platform
import shutil

import keras
import numpy as np

from keras_ssm import data as data_lib
from keras_ssm.zoo import cards
from keras_ssm.zoo import publish_families as families
from keras_ssm.zoo.evaluation import evaluate_preset
from keras_ssm.intervals import metric_intervals
from keras_ssm.version import __version__
from keras_ssm.zoo.loading import describe, load
from keras_ssm.zoo.runs import run_folder
from keras_ssm.zoo.saving import save_preset
from keras_ssm.zoo.verify import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, check_metadata, sha256_file

CARD_FILE = "README.md"


def repository_root():
    """The clone that holds this keras_ssm (its `examples/recipes/`): publishing
    writes presets there, and reads runs and bundled data relative to it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isdir(os.path.join(root, "examples", "recipes")):
        raise SystemExit(f"publishing runs from a clone of the repository, and {root} holds no examples/recipes/: "
                         "run it with the keras_ssm of a clone (pip install -e .)")
    return root


def read_json(path):
    """A JSON file's content."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def hardware():
    """The machine, in words: `"2 cores of an AMD EPYC (x86_64), no GPU"`.

    >>> hardware().endswith("no GPU")
    True
    """
    cpu = "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores of an {cpu} ({platform.machine()}), no GPU"


def stage_folders(runs, name):
    """`[(stage, folder)]` of preset `name`'s finished or interrupted stages
    under `runs` (each with its `best.keras`), in stage order."""
    found = [(1, run_folder(runs, name, 1))]
    found += [(int(path.rsplit("_stage", 1)[1]), path) for path in glob.glob(os.path.join(runs, f"{name}_stage*"))
              if path.rsplit("_stage", 1)[1].isdigit()]
    return sorted((k, d) for k, d in found if os.path.isfile(os.path.join(d, "best.keras")))


def run_summary(folder):
    """The run's `summary.json`, or, for a run stopped before its last epoch
    (the session's end), one read from its `metrics.csv`: epochs done, the
    best one, and the wall time from the recipe's writing to the last row."""
    path = os.path.join(folder, "summary.json")
    if os.path.isfile(path):
        return read_json(path)
    rows = cards.read_history([os.path.join(folder, "metrics.csv")])
    best = max(range(len(rows)), key=lambda i: (rows[i]["val_accuracy"], -i))
    recipe = os.path.join(folder, "recipe.json")
    seconds = os.path.getmtime(os.path.join(folder, "metrics.csv")) - os.path.getmtime(recipe)
    return {"epochs": len(rows), "planned_epochs": read_json(recipe)["epochs"], "best_epoch": best + 1,
            "best_val_accuracy": rows[best]["val_accuracy"], "seconds": round(seconds, 1), "backend": "jax",
            "interrupted": True}


def chosen_stages(runs, name):
    """The stages up to the one of best validation accuracy (the later one on
    a tie; the test split chooses nothing): `(stages, folders, summaries,
    recipes, model)`, `stages` their numbers and `model` the chosen stage's
    `best.keras`."""
    found = stage_folders(runs, name)
    if not found:
        raise SystemExit(f"no run of {name} under --runs {runs} (looked for {run_folder(runs, name, 1)}/best.keras "
                         f"and {name}_stage<k>/best.keras): pass the folder that holds the runs")
    summaries = [run_summary(d) for _, d in found]
    chosen = max(range(len(found)), key=lambda i: (summaries[i]["best_val_accuracy"], i))
    found, summaries = found[: chosen + 1], summaries[: chosen + 1]
    recipes = [read_json(os.path.join(d, "recipe.json")) for _, d in found]
    model = keras.saving.load_model(os.path.join(found[-1][1], "best.keras"), safe_mode=True)
    return [k for k, _ in found], [d for _, d in found], summaries, recipes, model


def start_record(summary, recipe):
    """What a stage started from: `warm_start` (a path relative to the
    repository root, where the chain's commands run, or a preset's name) and
    the sha256 of that file as its run recorded it (`summary.json`, or the
    `recipe.json` of a run stopped before its end); null, with a note, for a
    run trained before runs recorded it. Nothing is hashed here: the file may
    have changed since the stage read it.

    >>> start_record({}, {"warm_start": "runs/a/best.keras", "warm_start_sha256": "ab"})
    {'warm_start': 'runs/a/best.keras', 'warm_start_sha256': 'ab'}
    """
    if not recipe.get("warm_start"):
        return {}
    start = recipe["warm_start"]
    digest = summary.get("warm_start_sha256") or recipe.get("warm_start_sha256")
    return {"warm_start": os.path.relpath(start) if os.path.isabs(start) else start,
            "warm_start_sha256": digest, **({} if digest else {"warm_start_note": "not recorded when trained"})}


def stop_record(summary, reason=""):
    """`stopped_after` for a stage that ran fewer epochs than its recipe's
    (`reason` added when the run was cut off, not stopped on purpose).

    >>> stop_record({"epochs": 4, "planned_epochs": 5})
    {'stopped_after': '4 of 5 epochs'}
    """
    planned = summary.get("planned_epochs", summary["epochs"])
    if summary["epochs"] >= planned:
        return {}
    return {"stopped_after": f"{summary['epochs']} of {planned} epochs{reason if summary.get('interrupted') else ''}"}


def stage_record(name, stage, summary, recipe, stop_reason=""):
    """A stage's entry in metadata `training.stages`: its recipe and stage
    number, its epochs, best epoch and validation accuracy, wall time,
    machine, where it started from and the recipe it ran (`spec`, without
    where the data lies)."""
    spec = stage_spec(recipe)
    return {"recipe": f"examples/recipes/{name}.json", "stage": stage, "epochs": summary["epochs"],
            "best_epoch": summary["best_epoch"], "best_val_accuracy": summary["best_val_accuracy"],
            "seconds": summary["seconds"], "hardware": hardware(), **stop_record(summary, stop_reason),
            **start_record(summary, recipe), "spec": spec}


def stage_spec(recipe):
    """The part of a stage's recipe its metadata records (`spec`): seed,
    epochs, model, optimizer, self-pretraining, and the data options without
    where the data lies."""
    spec = {key: recipe[key] for key in ("seed", "epochs", "model", "optimizer")}
    if recipe.get("pretrain"):
        spec["pretrain"] = recipe["pretrain"]
    spec["data"] = {key: value for key, value in recipe["data"].items() if key != "path"}
    return spec


def replay_command(name, published=None):
    """The command that replays preset `name`'s stages from the repository
    root (each stage's stop and warm start are in its recipe). When its
    recipe holds later stages than the `published` ones (planned, or run and
    not kept), each published stage is trained alone (`--stage K`), so the
    command stops where the preset does.

    >>> replay_command("fsdd_s5")
    'python -m keras_ssm train examples/recipes/fsdd_s5.json --out runs/fsdd_s5'
    >>> replay_command("lra_text_s4d", published=1)
    'python -m keras_ssm train examples/recipes/lra_text_s4d.json --out runs/lra_text_s4d --stage 1'
    """
    command = f"python -m keras_ssm train examples/recipes/{name}.json --out {run_folder('runs', name, 1)}"
    if published is None or published >= recipe_stages(name):
        return command
    return " && ".join(f"{command} --stage {k}" for k in range(1, published + 1))


def recipe_stages(name):
    """How many stages `examples/recipes/NAME.json` holds (1 + its `stages`).

    >>> recipe_stages("lra_listops_s5")
    3
    """
    with open(os.path.join("examples", "recipes", f"{name}.json"), encoding="utf-8") as f:
        return 1 + len(json.load(f).get("stages", []))


def training_record(name, stages, backend):
    """Metadata `training` of the `stages` records of preset `name`: the
    stages, their epochs and wall time in all, the machine(s), the backend
    and the command that replays them."""
    return {"stages": stages, "epochs": sum(s["epochs"] for s in stages),
            "seconds": round(sum(s["seconds"] for s in stages), 1), "hardware": machines(stages),
            "backend": backend, "command": replay_command(name, len(stages))}


def machines(stages):
    """The machine that trained every stage, or each stage's when they differ.

    >>> machines([{"hardware": "A"}, {"hardware": "B"}])
    'A (stage 1); B (stage 2)'
    """
    names = [s["hardware"] for s in stages]
    if len(set(names)) == 1:
        return names[0]
    return "; ".join(f"{name} (stage {i})" for i, name in enumerate(names, 1))


def measure(folder, data_dir, rates=(None,)):
    """The preset's test accuracy on `data_dir`, measured once: at each of
    `rates` (the first its own: `accuracy`; another `accuracy_<rate>hz`; None
    for no audio), with the examples counted."""
    metrics = {}
    for i, rate in enumerate(rates):
        result = evaluate_preset(folder, data_dir, sample_rate=rate, verbose=0)
        metrics["accuracy" if i == 0 else f"accuracy_{rate}hz"] = result["accuracy"]
        metrics["examples"] = result["examples"]
        print(f"{os.path.basename(folder)} on {data_dir}{f' at {rate} Hz' if rate else ''}: "
              f"{result['correct']}/{result['examples']} = {100 * result['accuracy']:.2f} %")
    return metrics


def split_confusion(model, data):
    """The confusion matrix of `model` on a loaded dataset's test split (never shuffled)."""
    y_true, y_pred = [], []
    for inputs, labels in data.test:
        y_pred.append(np.argmax(model.predict(inputs, verbose=0), -1))
        y_true.append(np.asarray(labels))
    return cards.confusion_matrix(np.concatenate(y_true), np.concatenate(y_pred), data.num_classes)


def save_with_card(model, folder, metadata):
    """Saves the preset with its card rendered from `metadata`, the sha256
    of every file listed."""
    metadata["parameters"] = int(model.count_params())
    metadata["versions"] = {"keras": keras.__version__, "keras_ssm": __version__,
                            "backend": keras.backend.backend()}
    with open(os.path.join(folder, CARD_FILE), "w", encoding="utf-8") as f:
        f.write(cards.render(metadata))
    save_preset(model, folder, metadata)
    print(f"wrote {folder}")


def refresh_card(folder):
    """Re-renders a published preset's card from its metadata and records
    the card's sha256; nothing else changes (config and weights stay byte for
    byte, and the preset is verified before and after). Returns whether the
    card changed."""
    load(folder)  # every file verified before anything is re-written
    metadata = read_json(os.path.join(folder, METADATA_FILE))
    card = cards.render(metadata)
    path = os.path.join(folder, CARD_FILE)
    with open(path, encoding="utf-8") as f:
        if f.read() == card:
            return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(card)
    _record_sha256(folder, [CARD_FILE])
    load(folder)
    return True


def _record_sha256(folder, files, update=None):
    """Re-reads `metadata.json`, applies `update` to it, records the sha256
    of `files` and writes it back: read right before writing, since the
    metadata's other keys are other processes' to change."""
    path = os.path.join(folder, METADATA_FILE)
    metadata = read_json(path)
    if update:
        update(metadata)
    for file in files:
        metadata["files"][file] = sha256_file(os.path.join(folder, file))
    if {CONFIG_FILE, WEIGHTS_FILE} & set(files):
        raise ValueError(f"{folder}: the config and weights are save_preset's to write, not a refresh's")
    check_metadata(metadata)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
        f.write("\n")


def _plots(folder, name, matrix, labels, history, validation, confusion_title):
    """The card's plots: the confusion matrix and the learning curve."""
    cards.plot_confusion_matrix(matrix, labels, os.path.join(folder, "confusion_matrix.png"), confusion_title)
    cards.plot_learning_curve(history, os.path.join(folder, "learning_curve.png"), name, validation)


def _recorded_test_choices(folder, exclude=()):
    """The decisions a published preset recorded by hand after a test figure
    was seen: they carry over to its next publication (those starting with
    one of `exclude` are re-made by the publisher)."""
    if not os.path.isfile(os.path.join(folder, METADATA_FILE)):
        return []
    return [c for c in describe(folder).get("choices", [])
            if c["split"] == "test" and not c["decision"].startswith(tuple(exclude))]


# FSDD ------------------------------------------------------------------------------------------------------------

# The rule that picks the FSDD recipe among validation candidates, fixed before any candidate was trained.
GOAL_4000HZ = 0.93
FSDD_FRONT_END_CHOICE = {
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
    listed first).

    >>> choose_candidate([{"accuracy": 0.99, "accuracy_4000hz": 0.8}, {"accuracy": 0.98, "accuracy_4000hz": 0.93}])
    1
    """
    reached = [i for i, r in enumerate(results) if r["accuracy_4000hz"] >= GOAL_4000HZ]
    if reached:
        return max(reached, key=lambda i: (results[i]["accuracy"], -i))
    return max(range(len(results)), key=lambda i: (results[i]["accuracy_4000hz"], -i))


def recipe_core(spec):
    """A parsed recipe without what does not change the run: its name, where the data lies, hashes.

    >>> recipe_core({"name": "a", "seed": 0, "data": {"task": "fsdd", "path": "/x"}})
    {'seed': 0, 'data': {'task': 'fsdd'}}
    """
    return {k: ({f: v for f, v in val.items() if f != "path"} if k == "data" else val)
            for k, val in spec.items() if k not in ("name", "warm_start_sha256")}


def _band_limit(spec):
    data = spec["data"]
    if data.get("band_limit_rate"):
        return f"band-limit {data['band_limit_rate']} Hz with probability {data.get('band_limit_probability', 0.5)}"
    return "no band limit"


def candidate_choices(candidates, preset_recipe, layer):
    """The comparison of FSDD recipe candidates, as metadata `choices`.

    `candidates`: `[(run folder, its recipe, validation accuracy at 8 kHz,
    validation accuracy zero-shot at 4 kHz)]` of `layer`, measured by the
    caller (`keras_ssm.training.recipe.evaluate`); `preset_recipe` the parsed
    `examples/recipes/fsdd_<layer>.json`, which must be the chosen one's."""
    if not candidates:
        return []
    results = [{"accuracy": a8, "accuracy_4000hz": a4} for _, _, a8, a4 in candidates]
    chosen = choose_candidate(results)
    folder, recipe = candidates[chosen][:2]
    if recipe_core(preset_recipe) != recipe_core(recipe):
        raise SystemExit(f"examples/recipes/fsdd_{layer}.json is not the chosen candidate's recipe "
                         f"({folder}/recipe.json): make it so, or pass the right --candidates")
    lines = "; ".join(f"{os.path.basename(d)} ({_band_limit(r)}): {100 * a8:.2f} % at 8 kHz, "
                      f"{100 * a4:.2f} % zero-shot at 4 kHz" for d, r, a8, a4 in candidates)
    if len(candidates) == 1:
        return [{"decision": f"{_band_limit(recipe)}: the variant the other layers' candidates chose by the rule "
                             "(validation zero-shot 4 kHz >= 93 %, then validation at 8 kHz); only it was trained "
                             f"for this layer. Validation: {lines}",
                 "split": "validation"}]
    return [{"decision": f"recipe chosen among {len(candidates)} candidates by the rule fixed before they were "
                         f"trained (validation zero-shot 4 kHz >= {100 * GOAL_4000HZ:.0f} %, then the best validation "
                         f"accuracy at 8 kHz): {os.path.basename(folder)}. Validation: {lines}",
             "split": "validation"}]


def publish_fsdd(layer, runs, out_root, compared=()):
    """Publishes `RUNS/fsdd_<layer>` (and its later stages) as `OUT_ROOT/fsdd_<layer>`,
    measured on the bundled test split at 8 kHz and zero-shot at 4 and 16 kHz.
    `compared`: the choice of the recipe among candidates (`candidate_choices`),
    made on validation before this reads the test split."""
    family, name = families.FSDD, f"fsdd_{layer}"
    stages, dirs, summaries, recipes, model = chosen_stages(runs, name)
    stage_info = [stage_record(name, k, s, r, " (the session ended)") for k, s, r in zip(stages, summaries, recipes)]
    spec = recipes[0]["model"]
    test_data = families.FSDD_TEST_DATA
    meta = {
        "name": name,
        "description": f"Spoken digits 0-9 from raw 8 kHz audio through a log-mel front end, "
                       f"{family.layer_names[layer]}, causal.",
        "task": "audio-classification",
        "labels": list(family.labels),
        "input": {
            "shape": [None, 1], "dtype": "float32", "sample_rate": 8000, "range": "[-1, 1)",
            "padding_mask": "optional: call the model on (audio, mask), mask (batch, samples) bool, True at real samples",
            "preprocessing": "int16 PCM / 32768 (nothing else: the model computes its log-mel frames inside)",
        },
        "data": family.data,
        "architecture": {**{k: spec[k] for k in ("layer", "depth", "width", "layer_kwargs", "frontend", "spec_augment",
                                                 "activation", "dropout")},
                         "causal": True, "stride": round(spec["frontend"]["hop_seconds"] * 8000)},
        "metrics": {},
        "evaluate": f"python -m keras_ssm zoo evaluate {name} --data {test_data} "
                    + " ".join(f"--rate {r}" for r in families.FSDD_RATES),
        "training": training_record(name, stage_info, summaries[0]["backend"]),
    }
    folder = os.path.join(out_root, name)
    save_preset(model, folder, meta)
    metrics = measure(folder, test_data, families.FSDD_RATES)
    data = data_lib.load("fsdd", test_data, return_mask=True, batch_size=32)
    matrix = split_confusion(model, data)
    meta["metrics"] = metric_intervals({**metrics, "confusion_matrix_8000hz": matrix.tolist()})
    meta["choices"] = [FSDD_FRONT_END_CHOICE, *compared,
                       *cards.training_choices(stage_info, family.validation)]
    _plots(folder, name, matrix, meta["labels"], cards.read_history([os.path.join(d, "metrics.csv") for d in dirs]),
           family.validation, f"{name}, test, 8 kHz")
    save_with_card(model, folder, meta)


# Speech Commands ---------------------------------------------------------------------------------------------------

def replacement_choices(name, summaries, recipes, out_root):
    """The rule that lets a new recipe replace a published keyword spotter,
    fixed before any such candidate's result was seen: the candidate's best
    fold-7 validation accuracy (its stages' best) must be higher than the
    published preset's (its metadata's stages' best); a tie keeps the
    published one. Republishing the published recipe's own runs is no
    replacement and passes. Returns the choices to record; refuses
    (SystemExit) a candidate that does not pass.

    >>> replacement_choices("speech_commands12_none", [], [], "no_such_folder")
    []
    """
    folder = os.path.join(out_root, name)
    if not os.path.isfile(os.path.join(folder, METADATA_FILE)):
        return []
    published = read_json(os.path.join(folder, METADATA_FILE))["training"]["stages"]
    specs = [recipe_core(stage_spec(r)) for r in recipes]
    if specs == [recipe_core(stage["spec"]) for stage in published][: len(specs)]:
        return []
    before = max(stage["best_val_accuracy"] for stage in published)
    after = max(summary["best_val_accuracy"] for summary in summaries)
    if not after > before:
        raise SystemExit(f"{name}: the candidate's best fold-7 validation accuracy ({100 * after:.2f} %) is not above "
                         f"the published preset's ({100 * before:.2f} %): by the replacement rule the preset stays")
    pretrain = recipes[0].get("pretrain")
    return [
        {"decision": f"recipe replaced: the candidate's best fold-7 validation accuracy {100 * after:.2f} % against "
                     f"the published recipe's {100 * before:.2f} % (the rule: a replacement must be higher on "
                     "validation; fixed in keras_ssm.zoo.publishing.replacement_choices before the candidate's "
                     "result)", "split": "validation"},
        {"decision": "a new recipe was trained because the published preset's test accuracy was below the goal of "
                     "issue #31 (93 %)" + (f"; it adds self-pretraining ({pretrain['epochs']} epochs of next-step "
                                           "prediction)" if pretrain else ""),
         "split": "test",
         "note": "the candidate was chosen against the published preset on validation only; its test figure was "
                 "measured once, by this publisher"},
    ]



def keyword_benchmark_file(preset, noise_volume=0.1, ext="json", folder=None):
    """The keyword-spotting benchmark's results file of `preset` at
    `noise_volume` (the one naming rule, for the benchmark and the
    publisher): `keyword_spotting_<preset>.<ext>` at the published noise
    volume 0.1, `keyword_spotting_<preset>_noise<volume>.<ext>` at another,
    in `folder` (default `benchmarks/results`, from the repository root).

    >>> keyword_benchmark_file("speech_commands12_s4d", 1.0, "md", folder="r")
    'r/keyword_spotting_speech_commands12_s4d_noise1.md'
    """
    folder = families.KEYWORD_BENCHMARKS if folder is None else folder
    noise = "" if noise_volume == 0.1 else f"_noise{noise_volume:g}"
    return os.path.join(folder, f"keyword_spotting_{preset}{noise}.{ext}")


def read_benchmark(name):
    """The keyword-spotting benchmark's results of preset `name` at the
    published noise volume (`python -m benchmarks keyword_spotting --preset
    NAME`), or None when it was never run for it."""
    path = keyword_benchmark_file(name)
    if not os.path.isfile(path):
        return None
    results = read_json(path)
    if results["preset"] != name or results["detection"].get("max_words") is not None:
        raise SystemExit(f"{path} is not a full run of {name!r}'s keyword-spotting benchmark")
    return results


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
    results (`read_benchmark(name)`): the spotter's settings, with the smoothing
    and threshold the benchmark chose on the validation stream; and, when the
    benchmark is of this preset, its streaming and detection figures (all the
    card shows) and its choices (else None and [])."""
    detection = dict(families.DETECTION)
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
    streams = benchmark["streams"]
    test_stream = {k: d["sweeps"]["test"][k] for k in ("seconds", "real_time_factor")}
    if "snr" in d["sweeps"]["test"]:  # recorded since the benchmark measured it (issue #31)
        test_stream.update(noise_volume=d["noise_volume"], snr_db=d["sweeps"]["test"]["snr"]["snr_db"])
    streaming = {
        "machine": benchmark["machine"], "load_average": benchmark["load_average"],
        **({"hours": streams[0]["hours"],
            "real_time_factor": {r["backend"]: r["real_time_factor"] for r in streams},
            "memory_mb": {r["backend"]: [r["memory_mb"][0][1], r["memory_mb"][-1][1]] for r in streams}}
           if streams else {"timings": benchmark.get("streams_note", "not measured")}),
        "detection": {**{k: d[k] for k in ("threshold", "smoothing", "rule", "validation", "test", "windows")},
                      "candidates": {c["choice"]: c["candidates"] for c in d["choices"] if c.get("candidates")},
                      "test_stream": test_stream},
    }
    return detection, streaming, detection_choices(benchmark)


def with_detection_choices(choices, detection):
    """`choices` with its detection decisions (those starting "detection ")
    replaced by `detection`, in the place of the first one (else at the end).

    >>> with_detection_choices([{"decision": "a"}, {"decision": "detection x"}], [{"decision": "detection y"}])
    [{'decision': 'a'}, {'decision': 'detection y'}]
    """
    kept = [c for c in choices if not c["decision"].startswith("detection ")]
    first = next((i for i, c in enumerate(choices) if c["decision"].startswith("detection ")), len(choices))
    at = sum(1 for c in choices[:first] if not c["decision"].startswith("detection "))
    return kept[:at] + list(detection) + kept[at:]


def _copy_detection_plot(folder, name):
    shutil.copyfile(keyword_benchmark_file(name, ext="png"), os.path.join(folder, "detection.png"))


def publish_speech_commands(layer, runs, data_dir, out_root):
    """Publishes `RUNS/speech_commands12_<layer>` (and its later stages),
    measured on the test fold (8) of `data_dir` at 16 kHz and zero-shot at
    8 kHz, and on the bundled 120-clip subset; with the keyword-spotting
    benchmark's detection settings and figures when it is of this preset."""
    family, name = families.SPEECH_COMMANDS, f"speech_commands12_{layer}"
    stages, dirs, summaries, recipes, model = chosen_stages(runs, name)
    spec = recipes[-1]["model"]
    folder = os.path.join(out_root, name)
    detection, streaming, choices = detection_metadata(name, read_benchmark(name))
    recorded = _recorded_test_choices(folder, exclude=("detection ",))
    stage_info = [stage_record(name, k, s, r) for k, s, r in zip(stages, summaries, recipes)]
    replaced = replacement_choices(name, summaries, recipes, out_root)
    rates = (16000, 8000)
    meta = {
        "name": name,
        "description": f"12-class keyword spotting from raw 16 kHz audio, {family.layer_names[layer]}, causal, streaming.",
        "task": "keyword-spotting",
        "labels": list(family.labels),
        "input": {
            "shape": [None, 1], "dtype": "float32", "sample_rate": 16000, "range": "[-1, 1)", "clip_seconds": 1.0,
            "padding_mask": "optional: call the model on (audio, mask), mask (batch, samples) bool, True at real samples",
            "preprocessing": "int16 PCM / 32768 (nothing else: the log-mel front end is inside the model)",
        },
        "data": family.data,
        "architecture": {**{k: spec.get(k) for k in ("layer", "depth", "width", "layer_kwargs", "frontend",
                                                      "spec_augment", "activation", "dropout")},
                         "causal": True, "stride": model.backbone.stride},
        "detection": detection,
        "metrics": {},
        "evaluate": f"python -m keras_ssm zoo evaluate {name} --data {os.path.relpath(data_dir)} "
                    + " ".join(f"--rate {r}" for r in rates),
        "training": {**training_record(name, stage_info, summaries[0]["backend"]), "train_clips": 3554},
    }
    save_preset(model, folder, meta)
    metrics = measure(folder, data_dir, rates)
    subset = {"data": families.SPEECH_COMMANDS_SUBSET, **measure(folder, families.SPEECH_COMMANDS_SUBSET, rates)}
    data = data_lib.load("sc12", data_dir, batch_size=64, **family.data["options"], shuffle=False)
    matrix = split_confusion(model, data)
    meta["metrics"] = metric_intervals({**metrics, "subsets": [subset], "confusion_matrix": matrix.tolist(),
                                        "per_class_accuracy": (matrix.diagonal() / matrix.sum(1)).round(4).tolist()})
    meta["choices"] = replaced + cards.training_choices(stage_info, family.validation) + choices + recorded
    _plots(folder, name, matrix, meta["labels"], cards.read_history([os.path.join(d, "metrics.csv") for d in dirs]),
           family.validation, f"{name}, fold 8, 16 kHz")
    if streaming:
        _copy_detection_plot(folder, name)
        meta["streaming"] = streaming
    save_with_card(model, folder, meta)


def refresh_detection(layer, out_root):
    """Re-writes a published keyword preset's detection metadata,
    `detection.png` and card from the benchmark's results; config and weights
    stay byte for byte."""
    name = f"speech_commands12_{layer}"
    folder = os.path.join(out_root, name)
    load(folder)  # verified (sha256 of every file) before anything is re-written
    detection, streaming, choices = detection_metadata(name, read_benchmark(name))

    def update(metadata):
        metadata["detection"] = detection
        if streaming:
            metadata["streaming"] = streaming
        metadata["choices"] = with_detection_choices(metadata.get("choices", []), choices)

    files = []
    if streaming:
        _copy_detection_plot(folder, name)
        files.append("detection.png")
    _record_sha256(folder, files, update)
    refresh_card(folder)
    print(f"re-wrote the detection of {folder}: smoothing {detection.get('smoothing')}, threshold "
          f"{detection.get('threshold')}")


# Long Range Arena --------------------------------------------------------------------------------------------------

def _published_stages(name, first_stage, out_root):
    """`(stages, history)` of the published preset `OUT_ROOT/NAME` that come
    before `first_stage`, the first stage whose run is here (its earlier runs
    are not on this machine); `([], [])` from stage 1."""
    if first_stage == 1:
        return [], []
    training = describe(os.path.join(out_root, name))["training"]
    if len(training["stages"]) < first_stage - 1:
        raise SystemExit(f"the runs here start at stage {first_stage} of {name}, but the published preset holds "
                         f"{len(training['stages'])} stage(s): publish stage {len(training['stages']) + 1} first")
    before = training["stages"][: first_stage - 1]
    return before, [row for row in training.get("history", []) if row["stage"] < first_stage]


def publish_lra(name, runs, data_dir, out_root, paused=0.0, shared_cores=False):
    """Publishes the Long Range Arena runs `RUNS/NAME` (and later stages) as
    `OUT_ROOT/NAME`, measured on the test split of `data_dir` and on the
    bundled subset, with training tokens per second. `paused`: seconds the
    last stage's run was stopped (not training time); `shared_cores`: its
    cores were shared with other runs for part of it (the card says so)."""
    stages, dirs, summaries, recipes, model = chosen_stages(runs, name)
    before, history = _published_stages(name, stages[0], out_root)
    if before and max(s["best_val_accuracy"] for s in summaries) <= before[-1]["best_val_accuracy"]:
        raise SystemExit(f"{name}: the runs here reach no better validation accuracy than the published preset "
                         f"({100 * before[-1]['best_val_accuracy']:.2f} %); it stays as it is")
    task = recipes[0]["data"]["task"]
    settings, spec = families.LRA_TASKS[task], recipes[0]["model"]
    data = data_lib.load(task, data_dir, **settings["data"]["options"])
    if data.vocab_size:  # tokens per epoch, padding excluded
        tokens = sum(int((x.numpy() > 0).sum()) for x, _ in data.train)
    else:
        tokens = data.num_examples["train"] * data.max_length
    stage_info = [stage_record(name, k, s, r) for k, s, r in zip(stages, summaries, recipes)]
    if paused:  # the last stage's run was stopped (SIGSTOP) for a while: not training time
        stage_info[-1].update(seconds=stage_info[-1]["seconds"] - paused, paused_seconds=paused)
    if shared_cores:
        stage_info[-1]["shared_cores"] = True
    for stage in stage_info:  # the same data in every stage: its tokens per epoch
        stage["tokens_per_second"] = round(tokens * stage["epochs"] / stage["seconds"])
    stage_info = [*before, *stage_info]
    training = training_record(name, stage_info, summaries[0]["backend"])
    rows = cards.read_history([os.path.join(d, "metrics.csv") for d in dirs])
    for row in rows:  # running epoch and stage numbers after the published stages
        row.update(epoch=row["epoch"] + sum(s["epochs"] for s in before), stage=row["stage"] + len(before))
    validation = f"validation ({settings['validation']})"
    layer = families.LRA.layer_names[spec["layer"]]
    bidirectional = spec["layer_kwargs"].get("bidirectional", False)
    meta = {
        "name": name,
        "lra_task": task,
        "description": f"{settings['description']}; {layer}, {'bidirectional' if bidirectional else 'causal'}.",
        "task": settings["kind"],
        "labels": settings["labels"],
        "input": settings["input"],
        "data": settings["data"],
        "architecture": {**{k: spec[k] for k in ("layer", "depth", "width", "layer_kwargs", "activation", "dropout")},
                         "causal": not bidirectional},
        "metrics": {},
        "evaluate": f"python -m keras_ssm zoo evaluate {name} --data {os.path.relpath(data_dir)}",
        "papers": families.LRA_PAPERS[task],
        "training": {**training, "tokens_per_second": round(tokens * training["epochs"] / training["seconds"]),
                     "history": [*history, *rows]},
    }
    folder = os.path.join(out_root, name)
    recorded = _recorded_test_choices(folder) if before else []
    save_preset(model, folder, meta)
    metrics = measure(folder, data_dir)
    subset_dir = families.LRA_SUBSETS[task]
    subset = {"data": subset_dir, **measure(folder, subset_dir)}
    matrix = split_confusion(model, data)
    if int(np.trace(matrix)) != round(metrics["accuracy"] * metrics["examples"]):
        raise SystemExit(f"the confusion matrix holds {np.trace(matrix)} correct, the evaluation "
                         f"{round(metrics['accuracy'] * metrics['examples'])}")
    meta["metrics"] = metric_intervals({**metrics, "subsets": [subset], "confusion_matrix": matrix.tolist()})
    meta["choices"] = cards.training_choices(stage_info, validation) + recorded
    _plots(folder, name, matrix, settings["labels"], meta["training"]["history"], validation, f"{name}, test")
    save_with_card(model, folder, meta)
