"""The prediction figure: a station's recording above its earthquake probability, detections shaded."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from techtonics.core import fileio
from techtonics.data import stead


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
    figure = Figure(figsize=(12, 5))
    wave_ax, prob_ax = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
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
    return fileio.write_figure(figure, out_dir, f"{station}.png")
