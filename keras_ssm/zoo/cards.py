"""Model cards: the README and plots of a preset folder.

A card is rendered in one place, `render(metadata)`, from the preset's
metadata alone: the same skeleton for every family, whose differences are
sections (`SECTIONS`) and the family's settings
(`keras_ssm.zoo.publish_families`).
"""

import csv
import json
import os

import numpy as np

from keras_ssm.zoo import publish_families as families
from keras_ssm.zoo.runs import run_folder
from keras_ssm.intervals import accuracy_interval, format_interval, wilson_interval


def read_history(paths):
    """The rows of one or more `metrics.csv` files (one per training stage),
    as one list of dicts with a running `epoch` (1-based) and `stage`."""
    rows = []
    for stage, path in enumerate(paths, 1):
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                row = {k: float(v) for k, v in row.items()}
                row.update(epoch=len(rows) + 1, stage=stage)
                rows.append(row)
    return rows


def plot_learning_curve(rows, path, title, validation="validation"):
    """Training and validation accuracy per epoch (a dashed line where a new
    training stage starts), saved as a PNG; `validation` names the split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(epochs, [r["accuracy"] for r in rows], label="training (dropout on)")
    ax.plot(epochs, [r["val_accuracy"] for r in rows], label=validation)
    for prev, row in zip(rows, rows[1:]):
        if row["stage"] != prev["stage"]:
            ax.axvline(row["epoch"] - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="epoch", ylabel="accuracy", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def confusion_matrix(y_true, y_pred, num_classes):
    """`(num_classes, num_classes)` counts: row = true class, column = predicted.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def plot_confusion_matrix(matrix, labels, path, title):
    """The confusion matrix with its counts, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    long = max(len(str(label)) for label in labels) > 3
    # Long class names side by side would overlap: slanted, right-aligned under their column.
    ax.set_xticks(range(len(labels)), labels, rotation=45 if long else 0, ha="right" if long else "center")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def accuracy_cell(block, key, bold=False):
    """`"**96.00 %** [93.1, 97.7] %"`: an accuracy of a metrics block (the
    main one or a subset) with its Wilson 95 % interval (`<key>_interval` when
    the block states it, else computed from its `examples`).

    >>> accuracy_cell({"accuracy": 0.96, "examples": 300}, "accuracy", bold=True)
    '**96.00 %** [93.1, 97.7] %'
    """
    value = block[key]
    interval = block.get(f"{key}_interval") or accuracy_interval(value, block["examples"])
    figure = f"{100 * value:.2f} %"
    return f"{f'**{figure}**' if bold else figure} {format_interval(interval)}"


def per_class_section(matrix, labels):
    """The card's per-class accuracy (recall) table of a confusion matrix
    (rows: true class), each with its Wilson 95 % interval.

    >>> print(per_class_section([[9, 1], [0, 10]], ["no", "yes"]))
    ## Per-class accuracy (test split)
    <BLANKLINE>
    | class | correct | accuracy [95 % CI] |
    |---|---|---|
    | no | 9 / 10 | 90.00 % [59.6, 98.2] % |
    | yes | 10 / 10 | 100.00 % [72.2, 100.0] % |
    <BLANKLINE>
    """
    lines = ["## Per-class accuracy (test split)", "", "| class | correct | accuracy [95 % CI] |", "|---|---|---|"]
    for label, row in zip(labels, matrix):
        correct, total = int(row[labels.index(label)]), int(sum(row))
        lines.append(f"| {label} | {correct} / {total} | {100 * correct / total:.2f} % "
                     f"{format_interval(wilson_interval(correct, total))} |")
    return "\n".join(lines) + "\n"


def results_note(metadata):
    """How the card's results heading describes the test split: whether a
    decision was made after a test figure was seen (`choices`).

    >>> results_note({"choices": [{"decision": "stage 3", "split": "test"}]})
    'a decision was made after a test figure was seen: see Choices'
    """
    choices = metadata.get("choices")
    if not choices:
        return "evaluated once, at publication"
    if any(choice["split"] == "test" for choice in choices):
        return "a decision was made after a test figure was seen: see Choices"
    return "never used for a choice"


def choices_section(metadata):
    """The card's "Choices" section: every decision of `metadata["choices"]`
    and the split it was made on; one made after a test figure was seen is a
    warning. Empty when the metadata keeps no choices.

    >>> print(choices_section({"choices": [{"decision": "stage 2 started", "split": "test", "note": "goal missed"}]}))
    ## Choices
    <BLANKLINE>
    Every decision in training and publishing, and the split it was made on.
    <BLANKLINE>
    - **Warning: made after a test figure was seen.** stage 2 started (goal missed)
    <BLANKLINE>
    """
    choices = metadata.get("choices")
    if not choices:
        return ""
    lines = ["## Choices", "", "Every decision in training and publishing, and the split it was made on.", ""]
    for choice in choices:
        note = f" ({choice['note']})" if choice.get("note") else ""
        if choice["split"] == "test":
            lines.append(f"- **Warning: made after a test figure was seen.** {choice['decision']}{note}")
        else:
            on = "on the validation split" if choice["split"] == "validation" else "on no data split"
            lines.append(f"- {choice['decision']}: {on}{note}")
    return "\n".join(lines) + "\n"


def training_choices(stages, validation="validation"):
    """The choices a preset's training stages record: each stage's best
    epoch (on validation), when it stopped, and the stage kept (the last,
    of best validation accuracy).

    >>> [c["split"] for c in training_choices([{"epochs": 3, "best_epoch": 2, "best_val_accuracy": 0.5,
    ...                                          "spec": {"epochs": 3}}])]
    ['validation', 'none', 'validation']
    """
    choices = []
    for i, stage in enumerate(stages, 1):
        choices.append({"decision": f"stage {i}: epoch {stage['best_epoch']} of {stage['epochs']} kept, the best "
                                    f"{validation} accuracy ({100 * stage['best_val_accuracy']:.2f} %)",
                        "split": "validation"})
        planned = stage.get("spec", {}).get("epochs", stage["epochs"])
        if "stopped_after" in stage:
            stop = f"stage {i} stopped after {stage['stopped_after']}"
        else:
            stop = f"stage {i} ran its {planned} planned epochs"
        choices.append({"decision": stop, "split": "none"})
    best = max(range(len(stages)), key=lambda i: (stages[i]["best_val_accuracy"], i))
    choices.append({"decision": f"stage {best + 1} kept (published): the best {validation} accuracy of the "
                                f"{len(stages)} stage(s) recorded here",
                    "split": "validation"})
    return choices


def render(metadata):
    """The README.md of a preset, from its metadata alone: title, usage,
    results, model, training (stage table), learning curve, choices, data and
    license, limits. The family's sections (`SECTIONS`) fill the skeleton.

    >>> import json
    >>> from keras_ssm import zoo
    >>> card = render(zoo.describe("lra_text_s4d"))
    >>> card.splitlines()[0]
    '# lra_text_s4d'
    """
    sections = SECTIONS[families.family_of(metadata).name](metadata)
    return f"""# {metadata['name']}

{sections['intro']}

```python
{sections['usage']}
```

## Results ({sections['test_split']}; {results_note(metadata)})

{sections['results']}## Model

{sections['model']}

## Training

{sections['training']}

![learning curve](learning_curve.png)

{choices_section(metadata)}
## Data and license

{data_section(metadata['data'], families.family_of(metadata))}

## Limits

{sections['limits']}
"""


def stage_table(stages, family):
    """The card's table of training stages: each stage's recipe (` stage k` of
    a recipe of several stages), epochs, best epoch and validation accuracy,
    time, and, where the stages record them, training tokens per second and
    the machine.

    >>> print(stage_table([{"recipe": "r.json", "stage": 2, "epochs": 3, "best_epoch": 2,
    ...                     "best_val_accuracy": 0.5, "seconds": 120}], families.FSDD))
    | stage | recipe | epochs | best epoch | best validation | time |
    |---|---|---|---|---|---|
    | 1 | `r.json` stage 2 | 3 | 2 | 50.0 % | 2 min |
    """
    throughput = all("tokens_per_second" in s for s in stages)
    header = ["stage", "recipe", "epochs", "best epoch", family.validation_column, "time"]
    header += ["tokens/s", "machine"] if throughput else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, s in enumerate(stages, 1):
        recipe = f"`{s['recipe']}`" + (f" stage {s['stage']}" if "stage" in s else "")
        cells = [str(i), recipe, f"{s['epochs']}{' (stopped)' if 'stopped_after' in s else ''}", str(s["best_epoch"]),
                 f"{100 * s['best_val_accuracy']:.{family.stage_digits}f} %", f"{s['seconds'] / 60:.0f} min"]
        cells += [f"{s['tokens_per_second']:,}", s["hardware"]] if throughput else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def data_section(data, family):
    """The card's "Data and license" text: the data's name, source, license
    and split (and speakers, where the metadata names them).

    >>> print(data_section({"name": "D", "source": "s", "license": "CC0", "split": "a / b"}, families.LRA))
    D: s; CC0.
    Split: a / b.
    """
    speakers = f" {data['speakers']}." if data.get("speakers") else ""
    return f"{data['name']}: {data['source']}; {data['license']}{family.license_note}.\nSplit: {data['split']}.{speakers}"



def _fsdd_sections(metadata):
    """The FSDD card's sections: a spoken-digit classifier with a log-mel front end, at three rates."""
    m, t, a = metadata["metrics"], metadata["training"], metadata["architecture"]
    name, front, family = metadata["name"], a["frontend"], families.FSDD
    spec_augment = a.get("spec_augment") or {}
    limited = any(stage["spec"]["data"].get("band_limit_rate") for stage in t["stages"])
    augmentation = (
        "Each training clip was also low-passed, with probability 1/2 per epoch, to what a 4 kHz recording "
        "holds (band-limit augmentation, `keras_ssm.data.augment.band_limit`), so that the model does not lean "
        "on the band above 2 kHz that a 4 kHz input lacks; it is still trained at 8 kHz only (chosen on "
        "validation, see Choices).\n\n" if limited else ""
    )
    return {
        "intro": f"""A spoken-digit classifier (0-9) built on {family.layer_names[a['layer']]}, trained by keras_ssm on the
Free Spoken Digit Dataset. It takes **raw 8 kHz audio** and computes log-mel frames inside (a causal
front end), so it is one model from samples to digit. Causal (unidirectional): it streams, chunk by
chunk, with a constant-size state.""",
        "usage": f"""import keras_ssm
model = keras_ssm.zoo.load("{name}")                      # verified (sha256) before it is built
logits = model(audio)                                      # audio: float32 (batch, samples, 1) in [-1, 1) at 8 kHz
logits = model((audio, mask))                              # a padded batch: mask (batch, samples) bool
model_4k = keras_ssm.zoo.load("{name}", sample_rate=4000)  # zero-shot at 4 kHz (the front end's windows follow)""",
        "test_split": f"test split, {m['examples']} clips",
        "results": f"""| input rate | accuracy [95 % CI] | how |
|---|---|---|
| 8 kHz | {accuracy_cell(m, 'accuracy', bold=True)} | the trained rate |
| 4 kHz | {accuracy_cell(m, 'accuracy_4000hz')} | zero-shot: input resampled, `sample_rate=4000`, no retraining |
| 16 kHz | {accuracy_cell(m, 'accuracy_16000hz')} | zero-shot: input resampled, `sample_rate=16000` |

Zero-shot: the front end's windows and filters are set in seconds and Hz, so at another rate it measures
the same bands and the SSMs see the same frame rate; at 4 kHz the bands above 2 kHz are empty.
Reproduce: `{metadata['evaluate']}` (on the bundled copy of the test split; exact to the clip).
Anchors: S4 on FSDD reports 97 % from raw audio (annotated-s4 PR #43); models on spectral features
reach 97-99 %.

![confusion matrix at 8 kHz](confusion_matrix.png)

{per_class_section(m["confusion_matrix_8000hz"], metadata["labels"])}
""",
        "model": f"""`SSMClassifier(SSMBackbone("{a['layer']}", depth={a['depth']}, width={a['width']}, layer_kwargs={json.dumps(a['layer_kwargs'])},
frontend={json.dumps(front)}, spec_augment={json.dumps(spec_augment)}, norm="batch", prenorm=True,
activation="{a['activation']}", dropout={a['dropout']}), num_classes={len(metadata['labels'])})`: a log-mel front end
(`LogMelFrontend`: {1000 * front['frame_seconds']:.0f} ms Hann windows every {1000 * front['hop_seconds']:.0f} ms,
{front['num_mel_bins']} mel bands up to {front.get('upper_edge_hertz', 8000) / 1000:g} kHz, log energies; nothing
trained), SpecAugment while training ({spec_augment.get('freq_masks', 0)} frequency mask(s) of up to
{spec_augment.get('freq_width', 0)} bands, {spec_augment.get('time_masks', 0)} time mask(s) of up to
{spec_augment.get('time_width', 0)} frames), a `Dense` encoder, {a['depth']} residual SSM blocks at
{1 / front['hop_seconds']:.0f} frames per second, masked mean pooling over time and a linear head;
{metadata['parameters']:,} parameters. All preprocessing is inside the model: it takes the samples
themselves (int16 / 32768).""",
        "training": f"""Recipe CLI (`{t['command']}`), AdamW with the papers' groups (SSM parameters Λ, B, Δ at their own
learning rate with no weight decay), warmup then cosine decay, batch 16, length-bucketed batches with
padding masks; the epoch kept is the one of best validation accuracy.

{stage_table(t['stages'], family)}

{augmentation}{t['seconds'] / 60:.0f} min in all on {t['hardware']}, Keras {metadata['versions']['keras']} on the
{t['backend']} backend.""",
        "limits": """Six male speakers with the same recording set-up in train and test (the canonical split is by repetition,
not speaker): the test accuracy says little about new voices, other microphones or noise. Isolated digits
only (no silence / unknown class). The validation split (300 clips) resolves about one point: several
epochs come within a clip or two of the best, and the first epoch of the best accuracy is kept.""",
    }


def _speech_sections(metadata):
    """The Speech Commands card's sections: a keyword spotter at two rates, and, when its metadata
    holds them, its streaming and continuous-detection figures."""
    m, a, t = metadata["metrics"], metadata["architecture"], metadata["training"]
    name, sub, family = metadata["name"], m["subsets"][0], families.SPEECH_COMMANDS
    per_class = " | ".join(f"{label} {100 * acc:.0f}" for label, acc in zip(metadata["labels"], m["per_class_accuracy"]))
    return {
        "intro": f"""A 12-class keyword spotter (`_silence_`, `_unknown_`, yes, no, up, down, left, right, on, off, stop, go) built
on {family.layer_names[a['layer']]}, trained by keras_ssm on Speech Commands v0.02. It takes **raw 16 kHz audio** and
is causal: it streams with a constant-size state, and runs zero-shot on 8 kHz audio.""",
        "usage": f"""import keras_ssm
model = keras_ssm.zoo.load("{name}")   # verified (sha256) before it is built
logits = model(audio)                  # float32 (batch, samples, 1) in [-1, 1) at 16 kHz; 1 s clips
model_8k = keras_ssm.zoo.load("{name}", sample_rate=8000)  # zero-shot at 8 kHz""",
        "test_split": f"fold 8: {m['examples']} clips of speakers never seen in training",
        "results": f"""| input | accuracy [95 % CI] | how |
|---|---|---|
| 16 kHz | {accuracy_cell(m, 'accuracy', bold=True)} | the trained rate |
| 8 kHz | {accuracy_cell(m, 'accuracy_8000hz')} | zero-shot: resampled input, `sample_rate=8000` (the front end's windows follow in samples), no retraining |

Per class (%): {per_class}.
Reproduce: `{metadata['evaluate']}`; the bundled {sub['examples']}-clip subset of fold 8 gives {accuracy_cell(sub, 'accuracy')} (8 kHz:
{accuracy_cell(sub, 'accuracy_8000hz')}): `python -m keras_ssm zoo evaluate {name} --data {sub['data']} --rate 16000 --rate 8000`.

![confusion matrix, fold 8, 16 kHz](confusion_matrix.png)

**Against the anchors** (`../shared/research/zoo-anchors.md` §3, the same 12-class task): small KWS networks
trained on the full 85k-clip training split reach 95-98 % (DS-CNN 119K parameters 96.65 %, MatchboxNet 75K 98.0 %,
BC-ResNet-1 9.2K 96.9 %), and a causal S5 of 208K parameters (S-Edge) 95.8 %. This preset saw
{t['train_clips']:,} training clips, about 22× less data, and {metadata['parameters']:,} parameters: the gap is mostly data.
{streaming_section(metadata)}{detection_section(metadata)}
""",
        "model": f"""`SSMClassifier(SSMBackbone("{a['layer']}", depth={a['depth']}, width={a['width']}, input_dim=1,
layer_kwargs={json.dumps(a['layer_kwargs'])}, frontend={json.dumps(a['frontend'])},
dropout={a['dropout']}), num_classes={len(metadata['labels'])})`: a causal log-mel front end inside the model
(`keras_ssm.layers.frontend.LogMelFrontend`: 25 ms Hann windows every 10 ms, each frame reaching back only,
as one strided real convolution with the DFT basis — no FFT, so it exports — then 40 mel bands and a log),
a `Dense` encoder, {a['depth']} residual SSM blocks at 100 frames per second, masked mean pooling and a linear
head. {metadata['parameters']:,} trained parameters. The input is the samples themselves (int16 / 32768).""",
        "training": f"""{stage_table(t['stages'], family)}

{t['epochs']} epochs in {t['seconds'] / 60:.0f} min on {t['hardware']}, Keras {metadata['versions']['keras']} on the
{t['backend']} backend; each stage warm-starts from the best epoch of the one before, and the stage of best
validation accuracy is published. AdamW with the papers' groups (Λ, B, Δ at their own rate, no weight
decay), warmup then cosine decay, batch 32. Each epoch every training clip is drawn anew through
augmentation: a shift of up to 100 ms (250 ms in the later stages), a gain within ±6 dB, a speed within
±10 %, the training folds' background noise mixed in (probability 0.8, volume up to 0.1) and, with
probability 1/2, a low-pass to what an 8 kHz recording holds (so the 8 kHz zero-shot input is no surprise;
it is still trained at 16 kHz only); the later stages add SpecAugment masks on the log-mel frames
(`keras_ssm.layers.spec_augment`, training only). Continue with a recipe whose `warm_start` is the last
stage's `best.keras`.""",
        "limits": """3,554 training clips (folds 0-6 of the official test set): less robust than the anchors' models to new voices,
far-field audio and noise types absent from the training folds; `_unknown_` (other words) is the weakest class.
The detector scores one-second windows as the clips were scored in training: a word cut by a window's edge can
trigger early or under another label (the false alarms of `benchmarks/results/keyword_spotting.md`).""",
    }


def streaming_section(metadata):
    """The keyword card's "Streaming" section: real-time factors and memory of
    one stream per backend (metadata `streaming`); empty without them."""
    s = metadata.get("streaming")
    if not s or "real_time_factor" not in s:  # a preset whose stream was never timed (`streaming.timings` says so)
        return ""
    rows = "\n".join(
        f"| {backend} | " + " | ".join(f"{factors[ms]:.0f}×" for ms in ("10", "20", "100", "330"))
        + f" | {s['memory_mb'][backend][0]:.0f} → {s['memory_mb'][backend][1]:.0f} MB |"
        for backend, factors in s["real_time_factor"].items())
    return f"""
## Streaming

The whole model, front end included, streams chunk by chunk with its state carried
(`keras_ssm.models.streaming.ClassifierStream`, chunks of any length): the logits after each chunk equal
the full pass over the samples so far (to 1e-5, tested on every backend, chunks that do not divide the
stride included), and the state has a fixed size. One stream on {s['machine']}, seconds of audio per
second of compute (median chunk), and the process's memory over {s['hours']:g} h of audio:

| backend | 10 ms chunks | 20 ms | 100 ms | 330 ms | memory over the hour |
|---|---|---|---|---|---|
{rows}
"""


def detection_section(metadata):
    """The keyword card's "Continuous detection" section: the spotter's test
    stream figures at the smoothing and threshold chosen on validation
    (metadata `streaming.detection`); empty without them."""
    s = metadata.get("streaming")
    if not s or "machine" not in s:
        return ""
    d = s["detection"]
    test, v, w, rule, stream = d["test"], d["validation"], d["windows"], d["rule"], d["test_stream"]
    edge = [f"the {key} ({d[key]}) is the {'largest' if d[key] == max(grid) else 'smallest'} candidate"
            for key, grid in d["candidates"].items() if d[key] in (max(grid), min(grid))]
    return f"""
## Continuous detection

`python -m keras_ssm zoo stream {metadata['name']} --wav FILE` prints each keyword and its time
(`keras_ssm.models.keyword_spotter.KeywordSpotter` with this preset's `detection` settings: every
{1000 * w['hop_seconds']:.0f} ms the last {w['window_seconds']:g} s is scored exactly as a clip, by
{int(round(w['window_seconds'] / w['hop_seconds']))} staggered streams in one batch; a keyword is reported when its
probability, averaged over the last {d['smoothing']} windows, reaches the threshold, once per
{w['refractory_seconds']:g} s).
On a {stream['seconds'] / 60:.0f}-minute stream of every word of the test fold
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
spotter {stream['real_time_factor']:.0f}× (load average {s['load_average']:g} on that machine).
The sweep over smoothings and thresholds: `benchmarks/results/keyword_spotting.md`.

![detection score over the first minute of the test stream](detection.png)
"""


def _lra_sections(metadata):
    """The Long Range Arena card's sections: the papers' figures beside this preset's, the issue's goal,
    the compute it was trained with."""
    m, a, t = metadata["metrics"], metadata["architecture"], metadata["training"]
    name, task_name = metadata["name"], metadata["data"]["task"]
    task, papers = families.LRA_TASKS[task_name], metadata["papers"]
    goal = families.LRA_GOALS[task_name]
    reached = 100 * m["accuracy"] >= goal
    same_layer = {"s4d": "S4D-LegS", "dss": "DSS-softmax", "s5": "S5"}[a["layer"]]
    subset = m["subsets"][0]
    confusion = "\n![confusion matrix](confusion_matrix.png)\n" if "confusion_matrix" in m else ""
    direction = "bidirectional" if a["layer_kwargs"].get("bidirectional") else "causal"
    return {
        "intro": f"""{task['description']}: a classifier built on {families.LRA.layer_names[a['layer']]}, trained by keras_ssm on
2 CPU cores. The first published LRA checkpoint for this layer family.""",
        "usage": f"""import keras_ssm
model = keras_ssm.zoo.load("{name}")   # verified (sha256) before it is built
{task['call']}""",
        "test_split": f"the {m['examples']:,}-{task['unit'][:-1]} test split",
        "results": f"""| | accuracy [95 % CI] |
|---|---|
| **{name}** ({metadata['parameters']:,} parameters) | {accuracy_cell(m, 'accuracy', bold=True)} ({m['examples']:,} {task['unit']}) |
| the same on the bundled `{subset['data']}` | {accuracy_cell(subset, 'accuracy')} ({subset['examples']} {task['unit']}) |
| the papers (LRA {families.LRA_TITLES[task_name]}) | {" · ".join(f"{k} {v:.2f} %" for k, v in papers.items())} |

Goal (issue #16): >= {goal:.0f} % test accuracy: **{'reached' if reached else 'not reached'}** ({100 * m['accuracy']:.2f} %){
'' if reached else '; what limits it is compute: the model' + "'" + 's size and the epochs that 2 CPU cores allow (below)'}.{_resume_line(t)}{
'' if reached else _next_stage_line(name, t)}

Gap to the best paper figure: {max(papers.values()) - 100 * m['accuracy']:.1f} points ({max(papers[same_layer] - 100 * m['accuracy'], 0):.1f}
to {same_layer}). {families.LRA_COMPUTE[task_name]} This preset is {a['depth']} layers of width {a['width']}
(state size {a['layer_kwargs'].get('state_dim', '-')}), trained {t['epochs']} epoch(s) in {t['seconds'] / 60:.0f} min on {t['hardware']}
({t['tokens_per_second']:,.0f} training tokens per second{' over all stages' if len(t['stages']) > 1 else ''}{', padding excluded' if 'vocab_size' in metadata['input'] else ''}{_timing_note(t)}). Reproduce the figure:
`{metadata['evaluate']}`.
{confusion}
""",
        "model": f"""`SSMClassifier(SSMBackbone("{a['layer']}", depth={a['depth']}, width={a['width']}, {task['model_input']},
layer_kwargs={json.dumps(a['layer_kwargs'])}, dropout={a['dropout']}), num_classes={len(metadata['labels'])})`: {task['embedding']}, {a['depth']}
residual {direction} SSM blocks (prenorm, BatchNorm), {task['pooling']} and a linear head.""",
        "training": f"""{stage_table(t['stages'], families.LRA)}

{_optimizer_line(t['stages'][0]['spec'])}{_later_stages(t['stages'])} Keras
{metadata['versions']['keras']} on the {t['backend']} backend. Continue with a recipe whose `warm_start` is this
preset (`"warm_start": "{name}"`, a bundled preset's name or a preset folder) or a run's `best.keras`.{_unrecorded_line(t)}""",
        "limits": task["limits"],
    }


def _resume_line(training):
    """How to finish a last stage that was stopped before its last epoch: its
    command again, which resumes from the stage run's backup."""
    last = training["stages"][-1]
    if "stopped_after" not in last:
        return ""
    command = training["command"].split(" && ")[-1]
    name = os.path.splitext(os.path.basename(last["recipe"]))[0]
    backup = f"{run_folder('runs', name, last.get('stage', 1))}/backup"
    return (f" The last stage stopped after {last['stopped_after']}: on the machine that trained it, re-running its "
            f"command (`{command}`) resumes the rest from the run's backup (`{backup}`, outside git).")


def _next_stage_line(name, training):
    """How a preset short of its goal trains on: the next stage of its recipe,
    from the last stage's output (or from the preset, where that run is gone)."""
    last = training["stages"][-1]
    recipe, k = last["recipe"], last.get("stage", len(training["stages"])) + 1
    output = run_folder("runs", os.path.splitext(os.path.basename(recipe))[0], k - 1)
    over = "the top level" if k == 2 else "the stages before it"
    return (f" The next stage is stage {k} of its recipe, which starts from this one's output (`{output}/best.keras`, "
            f"the weights of this preset): `python -m keras_ssm train {recipe} --out {run_folder('runs', name, 1)} "
            f"--stage {k}`; on a machine without that run, train stage {k}'s recipe (its `stages[{k - 2}]` merged over "
            f"{over}) with `\"warm_start\": \"{name}\"`, this preset.")


def _later_stages(stages):
    """The rates of the stages after the first (each restarts warmup and cosine decay from the previous weights)."""
    later = [f"stage {i}: lr {s['spec']['optimizer']['lr']:g}, SSM lr {s['spec']['optimizer']['ssm_lr']:g}, "
             f"{s['spec']['optimizer'].get('warmup_epochs', 0):g} warmup epoch(s)"
             for i, s in enumerate(stages, 1) if i > 1]
    if not later:
        return ""
    return (" That is stage 1's schedule; each later stage restarts it from the previous weights at its recipe's\n"
            f"rates ({'; '.join(later)}).")


def _unrecorded_line(training):
    """Which stages the learning curve lacks (published before presets kept their per-epoch history)."""
    recorded = {row["stage"] for row in training.get("history", [])}
    missing = [i for i in range(1, len(training["stages"]) + 1) if i not in recorded]
    if not recorded or not missing:
        return ""
    return (f"\nThe learning curve starts after stage {', '.join(map(str, missing))}: its per-epoch history was not "
            "kept (it was published before presets\nrecorded it), only the figures in the table.")


def _timing_note(training):
    """What the wall time holds besides training, when a stage says so."""
    stages = list(enumerate(training["stages"], 1))
    notes = [f"stage {i} {s['stopped_after']}" for i, s in stages if "stopped_after" in s]
    notes += [f"stage {i}'s {s['paused_seconds'] / 60:.0f} min paused taken off" for i, s in stages if "paused_seconds" in s]
    notes += [f"stage {i}'s cores were shared with other runs (tests, probes) for part of it"
              for i, s in stages if s.get("shared_cores")]
    return "; " + "; ".join(notes) if notes else ""


def _optimizer_line(spec):
    """How the first stage's recipe trained, in words."""
    optimizer = spec["optimizer"]
    groups = optimizer.get("groups", "standard")
    if optimizer.get("dt") == "global" and groups == "standard":
        return ("AdamW with S4's groups (Λ, B at their own rate with no weight decay, Δ at the global rate: `optimizer.dt =\n"
                "\"global\"`), warmup then cosine decay, length-bucketed batches of 32 with padding masks.")
    return (f"AdamW with S5's `{groups}` groups (`keras_ssm.training.optimizers.GROUPS`: Λ and Δ at the SSM rate "
            f"{optimizer['ssm_lr']:g} with no\nweight decay, the rest at {optimizer['lr']:g} with weight decay "
            f"{optimizer['weight_decay']:g}), {optimizer.get('warmup_epochs', 0):g} warmup epoch(s) then "
            f"cosine decay,\nbatches of {spec['data']['batch_size']}.")


# Each family's sections of the card (`render`).
SECTIONS = {"fsdd": _fsdd_sections, "speech_commands": _speech_sections, "lra": _lra_sections}
