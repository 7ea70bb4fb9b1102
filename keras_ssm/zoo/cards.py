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
