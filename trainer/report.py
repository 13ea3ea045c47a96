"""The training report: curves of loss and accuracy per epoch, a confusion matrix, metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many of class i were predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def write_report(directory: Path, history: dict[str, list[float]], confusion: np.ndarray,
                 metrics: dict, title: str) -> dict[str, Path]:
    """Write report.png (curves + confusion matrix) and metrics.json into `directory`."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc, ax_cm) = plt.subplots(1, 3, figsize=(17, 5))
    marker = "o" if len(epochs) <= 30 else None  # a line of one or two epochs needs dots
    for split, style in (("", "-"), ("val_", "--"), ("test_", ":")):
        name = split.rstrip("_") or "train"
        if f"{split}loss" in history:
            ax_loss.plot(epochs, history[f"{split}loss"], style, marker=marker, label=name)
            ax_acc.plot(epochs, history[f"{split}accuracy"], style, marker=marker, label=name)
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch", yscale="log")
    ax_acc.set(title="Accuracy", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()

    ax_cm.imshow(np.log1p(confusion), cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        ax_cm.text(j, i, str(count), ha="center", va="center", fontsize=7,
                   color="white" if i == j else "black")
    ax_cm.set(title="Confusion matrix (test set)", xlabel="predicted", ylabel="true",
              xticks=range(len(confusion)), yticks=range(len(confusion)))
    fig.suptitle(title)
    fig.tight_layout()

    paths = {"plot": directory / "report.png", "metrics": directory / "metrics.json"}
    fig.savefig(paths["plot"], dpi=90)
    plt.close(fig)
    document = {**metrics, "history": history, "confusion_matrix": confusion.tolist()}
    tmp = paths["metrics"].with_suffix(".json.partial")
    tmp.write_text(json.dumps(document, indent=1))
    os.replace(tmp, paths["metrics"])
    return paths
