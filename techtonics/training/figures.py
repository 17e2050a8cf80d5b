"""Evaluation figures with matplotlib, written atomically as PNG files (local or gs://, s3://).

Figures are drawn on `matplotlib.figure.Figure` objects, not pyplot, so no
backend is chosen and no display is needed on training machines.
"""

from __future__ import annotations

import csv
import math

import numpy as np
from matplotlib.figure import Figure

from techtonics.core import fileio
from techtonics.data import stead


def training_curves(history_csv: str, out_dir: str) -> str:
    """training_curves.png: every metric of history.csv, training against validation, per epoch."""
    with fileio.open_file(history_csv, "r") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}  # a re-done epoch: its last row
    epochs = sorted(rows)
    # Every column but the epoch and why training stopped; a column added later (lr) is empty before.
    skipped = ("epoch", "stopped")
    names = [k for k in rows[epochs[0]] if k not in skipped and not k.startswith("val_")] if epochs else []

    def values(name):
        return [float(rows[e][name] or "nan") for e in epochs]

    figure = Figure(figsize=(4.5 * max(len(names), 1), 3.5))
    axes = figure.subplots(1, max(len(names), 1), squeeze=False)
    for ax, name in zip(axes[0], names):
        x = [e + 1 for e in epochs]
        ax.plot(x, values(name), "o-", label="train")
        if f"val_{name}" in rows[epochs[0]]:
            ax.plot(x, values(f"val_{name}"), "s-", label="validation")
        ax.set(xlabel="epoch", title=name)
        ax.legend()
    return fileio.write_figure(figure, out_dir, "training_curves.png")


def classification_figures(curves: dict, out_dir: str) -> list[str]:
    """confusion_matrix.png, roc.png and precision_recall.png from evaluate's curves."""
    figure = Figure(figsize=(4, 3.5))
    ax = figure.subplots()
    confusion = curves["confusion"]
    ax.imshow(confusion, cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        ax.text(j, i, str(n), ha="center", va="center", color="black")
    ticks = range(len(stead.CLASS_NAMES))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=stead.CLASS_NAMES, yticklabels=stead.CLASS_NAMES)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    paths = [fileio.write_figure(figure, out_dir, "confusion_matrix.png")]
    for name, x, y, xlabel, ylabel in (
        ("roc.png", "false_positive_rate", "true_positive_rate", "false positive rate", "true positive rate"),
        ("precision_recall.png", "recall", "precision", "recall", "precision"),
    ):
        figure = Figure(figsize=(4, 4))
        ax = figure.subplots()
        ax.plot(curves[x], curves[y])
        if name == "roc.png":
            ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.01), title=name[:-4].replace("_", "-"))
        paths.append(fileio.write_figure(figure, out_dir, name))
    return paths


def regression_figures(truth, predicted, meta: dict, target: str, units: str, out_dir: str) -> list[str]:
    """predicted_vs_true.png (with the 1:1 line), residual_histogram.png, residuals.png (vs SNR, distance)."""
    label = f"{target} ({units})"
    residual = predicted - truth
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.subplots()
    ax.scatter(truth, predicted, s=4, alpha=0.5)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], "k--", lw=0.8, label="1:1")
    ax.set(xlabel=f"true {label}", ylabel=f"predicted {label}", title="predicted against true")
    ax.legend()
    paths = [fileio.write_figure(figure, out_dir, "predicted_vs_true.png")]

    figure = Figure(figsize=(4.5, 3.5))
    ax = figure.subplots()
    ax.hist(residual, bins=50)
    ax.set(
        xlabel=f"predicted - true ({units})",
        ylabel="traces",
        title=f"mean {residual.mean():.3g}, std {residual.std():.3g}",
    )
    paths.append(fileio.write_figure(figure, out_dir, "residual_histogram.png"))

    figure = Figure(figsize=(9, 3.5))
    axes = figure.subplots(1, 2, sharey=True)
    for ax, x, xlabel in (
        (axes[0], meta["snr_db"][:, stead.Z], "Z-channel SNR (dB)"),
        (axes[1], meta["source_distance_km"], "source distance (km)"),
    ):
        ax.scatter(x, residual, s=4, alpha=0.5)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=xlabel)
    axes[0].set(ylabel=f"predicted - true ({units})")
    paths.append(fileio.write_figure(figure, out_dir, "residuals.png"))
    return paths


def position_robustness(p_offset: dict, title: str, out_dir: str) -> str:
    """p_offset.png: each of evaluate's position metrics against where P was placed in the window."""
    names = [k for k in p_offset if k != "offsets_s"]
    figure = Figure(figsize=(4.5 * len(names), 3.5))
    for ax, name in zip(figure.subplots(1, len(names), squeeze=False)[0], names):
        ax.axvspan(4, 9, color="0.9", label="P in STEAD")
        ax.plot(p_offset["offsets_s"], p_offset[name], "o-")
        ax.set(xlabel="P placed at (s into the window)", title=name, ylim=(0, None))
        ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return fileio.write_figure(figure, out_dir, "p_offset.png")


def example_grid(
    images: np.ndarray, names: list[str], truth: list[str], predicted: list[str], out_dir: str
) -> str:
    """examples.png: the model's input images (first channel) titled with true and predicted labels."""
    columns = 4
    rows = max(1, math.ceil(len(images) / columns))
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, name, true, guess in zip(axes.flat, images, names, truth, predicted):
        ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{name}\ntrue {true} / predicted {guess}", fontsize=7)
    return fileio.write_figure(figure, out_dir, "examples.png")


def onset_residuals(residuals: dict[str, np.ndarray], title: str, out_dir: str) -> str:
    """onset_residuals.png: a histogram of each phase's pick - onset, in seconds (clipped to +-1 s)."""
    figure = Figure(figsize=(4.5 * len(residuals), 3.5))
    for axes, (phase, residual) in zip(np.atleast_1d(figure.subplots(1, len(residuals))), residuals.items()):
        residual = np.asarray(residual, np.float64)
        residual = residual[np.isfinite(residual)]
        if residual.size:
            axes.hist(np.clip(residual, -1.0, 1.0), bins=np.linspace(-1.0, 1.0, 41))
        axes.set(
            xlabel="pick - onset (s, clipped to +-1)",
            ylabel="picks",
            title=f"{title}: {phase} ({residual.size} picks)",
        )
    return fileio.write_figure(figure, out_dir, "onset_residuals.png")
