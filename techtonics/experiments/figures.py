"""The reproduction's figure: the synthetic STEAD against real STEAD's distributions, with example traces.

Drawn on a matplotlib Figure directly, not through pyplot: no backend is
chosen and no global state is touched, so importing this module changes
nothing for the rest of the process.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from techtonics.core import fileio
from techtonics.data import stead
from techtonics.synthetic import reference

_P_BINS = np.arange(350, 1550, 100)


def _values(rows, column: str):
    if column == stead.SNR_COLUMN:
        return np.stack(rows[column].to_numpy()).mean(axis=1)  # as the paper's Fig. 17: E, N, Z averaged
    return rows[column]


def _reference_line(ax, distribution: reference.Histogram) -> None:
    """The reference distribution as a density, beside histograms drawn with density=True."""
    edges = np.asarray(distribution.edges, float)
    density = np.asarray(distribution.counts, float) / np.diff(edges) / np.sum(distribution.counts)
    ax.stairs(density, edges, color="black", linewidth=1.5, label=distribution.source)


def synthetic_vs_stead(quakes, real_rows, examples, references: dict, out_dir: str) -> str:
    """synthetic_vs_stead.png in out_dir: generated columns against real STEAD's, then example traces.

    quakes: generated earthquake metadata; real_rows: real STEAD metadata (or
    None); examples: (title, waveform (6000, 3), image (height, width)) per
    example; references: column -> reference.Histogram. Returns the path.
    """
    columns = max(len(references) + 1, len(examples))
    figure = Figure(figsize=(3.6 * columns, 9.0), layout="tight")
    axes = figure.subplots(3, columns, squeeze=False)
    for ax, (column, distribution) in zip(axes[0], references.items()):
        edges = np.asarray(distribution.edges, float)
        if column == "source_distance_km":  # spans 0-350 km, most of it below 40: log bins show both ends
            edges = np.geomspace(1.0, edges[-1], 30)
            ax.set_xscale("log")
        ax.hist(
            _values(quakes, column), bins=edges, density=True, alpha=0.5, label=f"synthetic ({len(quakes)})"
        )
        _reference_line(ax, distribution)
        if real_rows is not None:
            real = _values(real_rows, column)
            ax.hist(real, bins=edges, density=True, histtype="step", color="tab:red", label="100 real rows")
        ax.set_xlabel("snr_db, mean of E, N, Z" if column == stead.SNR_COLUMN else column)
        ax.legend(fontsize=6, loc="upper right")
    ax = axes[0, len(references)]
    ax.hist(quakes["p_arrival_sample"], bins=_P_BINS, density=True, alpha=0.5, label="synthetic")
    if real_rows is not None:
        ax.hist(
            real_rows["p_arrival_sample"],
            bins=_P_BINS,
            density=True,
            histtype="step",
            color="tab:red",
            label="100 real rows",
        )
    ax.set_xlabel("p_arrival_sample")
    ax.legend(fontsize=6, loc="upper right")
    seconds = np.arange(stead.TRACE_SAMPLES) / stead.SAMPLING_RATE_HZ
    for k, (title, waveform, image) in enumerate(examples):
        axes[1, k].plot(seconds, waveform[:, stead.Z], linewidth=0.4, color="black")
        axes[1, k].set_title(title, fontsize=8)
        axes[1, k].set_xlabel("s (Z channel, counts)")
        axes[2, k].imshow(image, cmap="gray", vmin=0, vmax=1, aspect="auto")
        axes[2, k].set_title("the model's input image", fontsize=8)
    for ax in [*axes[0, len(references) + 1 :], *axes[1, len(examples) :], *axes[2]]:
        ax.axis("off")
    return fileio.write_figure(figure, out_dir, "synthetic_vs_stead.png")
