"""Evaluation figures with matplotlib, written atomically as PNG files (local or gs://, s3://)."""

from __future__ import annotations

import csv
import io
import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from techtonics import fileio, stead  # noqa: E402

Z = stead.CHANNELS.index("Z")


def _save(figure, out_dir: str, name: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    path = fileio.join(out_dir, name)
    fileio.write_atomic(path, buffer.getvalue())
    return path


def training_curves(history_csv: str, out_dir: str) -> str:
    """training_curves.png: every metric of history.csv, training against validation, per epoch."""
    with fileio.open_file(history_csv, "r") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}  # a re-done epoch: its last row
    epochs = sorted(rows)
    names = [k for k in rows[epochs[0]] if k != "epoch" and not k.startswith("val_")] if epochs else []
    figure, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        x = [e + 1 for e in epochs]
        ax.plot(x, [float(rows[e][name]) for e in epochs], "o-", label="train")
        if f"val_{name}" in rows[epochs[0]]:
            ax.plot(x, [float(rows[e][f"val_{name}"]) for e in epochs], "s-", label="validation")
        ax.set(xlabel="epoch", title=name)
        ax.legend()
    return _save(figure, out_dir, "training_curves.png")


def classification_figures(curves: dict, out_dir: str) -> list[str]:
    """confusion_matrix.png, roc.png and precision_recall.png from evaluate's curves."""
    figure, ax = plt.subplots(figsize=(4, 3.5))
    confusion = curves["confusion"]
    ax.imshow(confusion, cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        ax.text(j, i, str(n), ha="center", va="center", color="black")
    ticks = range(len(stead.CLASS_NAMES))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=stead.CLASS_NAMES, yticklabels=stead.CLASS_NAMES)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    paths = [_save(figure, out_dir, "confusion_matrix.png")]
    for name, x, y, xlabel, ylabel in (
        ("roc.png", "false_positive_rate", "true_positive_rate", "false positive rate", "true positive rate"),
        ("precision_recall.png", "recall", "precision", "recall", "precision"),
    ):
        figure, ax = plt.subplots(figsize=(4, 4))
        ax.plot(curves[x], curves[y])
        if name == "roc.png":
            ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.01), title=name[:-4].replace("_", "-"))
        paths.append(_save(figure, out_dir, name))
    return paths


def regression_figures(truth, predicted, meta: dict, target: str, units: str, out_dir: str) -> list[str]:
    """predicted_vs_true.png (with the 1:1 line), residual_histogram.png, residuals.png (vs SNR, distance)."""
    label = f"{target} ({units})"
    residual = predicted - truth
    figure, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(truth, predicted, s=4, alpha=0.5)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], "k--", lw=0.8, label="1:1")
    ax.set(xlabel=f"true {label}", ylabel=f"predicted {label}", title="predicted against true")
    ax.legend()
    paths = [_save(figure, out_dir, "predicted_vs_true.png")]

    figure, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.hist(residual, bins=50)
    ax.set(
        xlabel=f"predicted - true ({units})",
        ylabel="traces",
        title=f"mean {residual.mean():.3g}, std {residual.std():.3g}",
    )
    paths.append(_save(figure, out_dir, "residual_histogram.png"))

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, x, xlabel in (
        (axes[0], meta["snr_db"][:, Z], "Z-channel SNR (dB)"),
        (axes[1], meta["source_distance_km"], "source distance (km)"),
    ):
        ax.scatter(x, residual, s=4, alpha=0.5)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=xlabel)
    axes[0].set(ylabel=f"predicted - true ({units})")
    paths.append(_save(figure, out_dir, "residuals.png"))
    return paths


def example_grid(
    images: np.ndarray, names: list[str], truth: list[str], predicted: list[str], out_dir: str
) -> str:
    """examples.png: the model's input images (first channel) titled with true and predicted labels."""
    columns = 4
    rows = max(1, math.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, name, true, guess in zip(axes.flat, images, names, truth, predicted):
        ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{name}\ntrue {true} / predicted {guess}", fontsize=7)
    return _save(figure, out_dir, "examples.png")


def station_detections(
    station: str,
    plot: tuple,
    starts: np.ndarray,
    probability: np.ndarray,
    events: list[dict],
    threshold: float,
    out_dir: str,
) -> str:
    """<station>.png: the Z channel above the detection probability over time, detections shaded.

    plot: (start, (points, 2) Z min/max pairs, seconds per pair) from
    continuous.windows; starts and probability: each window's start (POSIX
    seconds) and earthquake probability, drawn at the window's centre.
    """
    start, envelope, step = plot
    figure, (wave_ax, prob_ax) = plt.subplots(2, 1, figsize=(12, 5), sharex=True, height_ratios=[2, 1])
    t = np.arange(len(envelope)) * step / 3600.0
    wave_ax.fill_between(t, envelope[:, 0], envelope[:, 1], color="0.2", linewidth=0.5)
    wave_ax.set_ylabel("Z (counts)")
    wave_ax.set_title(f"{station}: {len(events)} detections")
    centre = (starts - start + stead.TRACE_SAMPLES / stead.SAMPLING_RATE_HZ / 2) / 3600.0
    prob_ax.plot(centre, probability, color="tab:blue", linewidth=1)
    prob_ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    for ax in (wave_ax, prob_ax):
        for event in events:
            ax.axvspan(
                (event["start"] - start) / 3600.0,
                (event["end"] - start) / 3600.0,
                color="tab:orange",
                alpha=0.3,
            )
    prob_ax.set_ylim(0, 1.02)
    prob_ax.set_ylabel("P(earthquake)")
    prob_ax.set_xlabel("hours after the first sample")
    prob_ax.legend(loc="upper right")
    return _save(figure, out_dir, f"{station}.png")


def _reference_line(ax, reference, log_x: bool = False) -> None:
    edges = np.asarray(reference.edges, float)
    density = np.asarray(reference.counts, float) / np.diff(edges) / np.sum(reference.counts)
    ax.stairs(density, edges, color="black", linewidth=1.5, label=reference.source)
    if log_x:
        ax.set_xscale("log")


def synthetic_vs_stead(quakes, real_rows, examples, references: dict, out_dir: str) -> str:
    """synthetic_vs_stead.png: generated columns against real STEAD's, then example traces.

    quakes: generated earthquake metadata; real_rows: real STEAD metadata (or
    None); examples: (title, waveform (6000, 3), image (height, width)) per
    example; references: column -> stead_reference.Histogram.
    """
    columns = max(len(references) + 1, len(examples))
    figure, axes = plt.subplots(3, columns, figsize=(3.6 * columns, 9.0), squeeze=False)

    def values(rows, column):
        if column == stead.SNR_COLUMN:
            return np.stack(rows[column].to_numpy()).mean(axis=1)  # as the paper's Fig. 17: E, N, Z averaged
        return rows[column]

    for ax, (column, reference) in zip(axes[0], references.items()):
        edges = np.asarray(reference.edges, float)
        if column == "source_distance_km":
            edges = np.geomspace(1.0, edges[-1], 30)
        ax.hist(
            values(quakes, column), bins=edges, density=True, alpha=0.5, label=f"synthetic ({len(quakes)})"
        )
        _reference_line(ax, reference, log_x=column == "source_distance_km")
        if real_rows is not None:
            real = values(real_rows, column)
            ax.hist(real, bins=edges, density=True, histtype="step", color="tab:red", label="100 real rows")
        ax.set_xlabel("snr_db, mean of E, N, Z" if column == stead.SNR_COLUMN else column)
        ax.legend(fontsize=6, loc="upper right")
    ax = axes[0, len(references)]
    ax.hist(
        quakes["p_arrival_sample"], bins=np.arange(350, 1550, 100), density=True, alpha=0.5, label="synthetic"
    )
    if real_rows is not None:
        ax.hist(
            real_rows["p_arrival_sample"],
            bins=np.arange(350, 1550, 100),
            density=True,
            histtype="step",
            color="tab:red",
            label="100 real rows",
        )
    ax.set_xlabel("p_arrival_sample")
    ax.legend(fontsize=6, loc="upper right")
    for ax in axes[0, len(references) + 1 :]:
        ax.axis("off")
    seconds = np.arange(stead.TRACE_SAMPLES) / stead.SAMPLING_RATE_HZ
    for k, (title, waveform, image) in enumerate(examples):
        axes[1, k].plot(seconds, waveform[:, Z], linewidth=0.4, color="black")
        axes[1, k].set_title(title, fontsize=8)
        axes[1, k].set_xlabel("s (Z channel, counts)")
        axes[2, k].imshow(image, cmap="gray", vmin=0, vmax=1, aspect="auto")
        axes[2, k].set_title("the model's input image", fontsize=8)
        axes[2, k].axis("off")
    for ax in [*axes[1, len(examples) :], *axes[2, len(examples) :]]:
        ax.axis("off")
    figure.tight_layout()
    return _save(figure, out_dir, "synthetic_vs_stead.png")
