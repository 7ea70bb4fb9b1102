"""Model cards: the README and plots of a preset folder."""

import csv
import os

import numpy as np


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


def write(folder, text):
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def accuracy_cell(block, key, bold=False):
    """`"**96.00 %** [93.1, 97.7] %"`: an accuracy of a metrics block (the
    main one or a subset) with its Wilson 95 % interval (`<key>_interval` when
    the block states it, else computed from its `examples`).

    >>> accuracy_cell({"accuracy": 0.96, "examples": 300}, "accuracy", bold=True)
    '**96.00 %** [93.1, 97.7] %'
    """
    from keras_ssm.zoo.intervals import accuracy_interval, format_interval

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
    from keras_ssm.zoo.intervals import format_interval, wilson_interval

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
