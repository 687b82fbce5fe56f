"""Figures a person would rather look at than read: learning curves and confusion matrices."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from zoo.runs import atomic_path


def learning_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str
) -> None:
    """One panel per metric (loss first), training and validation curves over epochs."""
    metrics = [
        k for k in history if k not in ("epoch", "learning_rate") and not k.startswith("val_")
    ]
    metrics.sort(key=lambda k: k != "loss")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker=".", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker=".", label="validation")
        _epoch_axes(ax, name)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def adversarial_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str
) -> None:
    """A GAN's two losses on one panel, D's mean output on real and generated images on another.

    At the game's equilibrium D cannot tell them apart and both outputs approach 0.5 (dashed).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    panels = (("losses", ("d_loss", "g_loss")), ("discriminator output", ("D(x)", "D(G(z))")))
    for ax, (name, metrics) in zip(axes, panels, strict=True):
        for metric in metrics:
            ax.plot(
                np.arange(1, len(history[metric]) + 1), history[metric], marker=".", label=metric
            )
        _epoch_axes(ax, name)
    axes[1].axhline(0.5, color="gray", linestyle="--", linewidth=1)
    axes[1].set_ylim(0, 1)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def _epoch_axes(ax: plt.Axes, title: str) -> None:
    """Whole epochs on the x axis, a light grid and a legend: the look every curve panel shares."""
    ax.set_xlabel("epoch")
    # min_n_ticks=1: with the default (2), a one-epoch run's lone point falls back to ticks at 0.96.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if max(len(line.get_xdata()) for line in ax.get_lines()) == 1:
        ax.set_xlim(0.5, 1.5)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str], path: str | os.PathLike[str], title: str
) -> None:
    """Counts of (true, predicted) pairs, with the diagonal read as per-class recall, and the
    overall accuracy under the title."""
    size = max(4.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    total = int(matrix.sum())
    if total:  # the one figure a reader looks for first, from the same counts
        title += f"\naccuracy {np.trace(matrix) / total:.2%} of {total:,} test examples"
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
