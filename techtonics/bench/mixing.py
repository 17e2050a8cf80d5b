"""How well the training stream mixes the classes, against an ideal shuffle.

STEAD's files hold all noise first (chunk1), so anything that reads them in
file order feeds a model noise-only stretches followed by earthquake-only
ones. `class_mixing` measures the stream the trainer sees: the earthquake
fraction of every window of consecutive examples, whose spread an ideal
shuffle keeps at the binomial sqrt(p (1 - p) / window), and the worst batch.
"""

from __future__ import annotations

import math
import os

import numpy as np

from techtonics import converter, data, fileio, records, stead
from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.errors import UserError


def epoch_labels(records: data.Records, config: data.InputConfig) -> np.ndarray:
    """The class labels of one epoch of the training input, in the order the trainer sees them."""
    ds, steps = data.split_dataset(records, "train", config, training=True)
    labels = ds.map(lambda waveform, label: label).take(steps)
    return np.concatenate([batch.numpy().ravel() for batch in labels])


def class_mixing(labels: np.ndarray, window: int = 1024, batch: int = 64) -> dict:
    """Spread of the earthquake fraction over consecutive windows, against the binomial ideal.

    Returns the overall fraction, the per-window fractions' range and
    standard deviation, the ideal standard deviation and their ratio, and
    the lowest earthquake fraction of any batch.
    """
    quakes = np.asarray(labels) == stead.EARTHQUAKE_CLASS
    windows = quakes[: quakes.size // window * window].reshape(-1, window).mean(axis=1)
    batches = quakes[: quakes.size // batch * batch].reshape(-1, batch).mean(axis=1)
    if windows.size < 2:
        raise UserError(f"{quakes.size} examples make fewer than 2 windows of {window}")
    p = float(quakes.mean())
    ideal = math.sqrt(p * (1 - p) / window)
    spread = float(windows.std())
    return {
        "examples": int(quakes.size),
        "earthquake_fraction": p,
        "windows": int(windows.size),
        "window_min": float(windows.min()),
        "window_max": float(windows.max()),
        "window_std": spread,
        "ideal_std": ideal,
        "std_ratio": spread / ideal if ideal > 0 else math.inf,
        "batch_min": float(batches.min()),
    }


def run(workdir: str, traces: int, shuffle_buffer: int, window: int, batch_size: int = 64) -> list[Row]:
    """Class mixing of one training epoch with default input settings and shards twice the shuffle buffer.

    traces: generated STEAD's size; shuffle_buffer: the input's; window:
    consecutive examples per window; batch_size: the batches whose lowest
    earthquake share is reported.
    """
    records_dir = os.path.join(workdir, f"records-{traces}-mixing")
    if not fileio.exists(fileio.join(records_dir, records.MANIFEST_NAME)):
        shard_mb = 2 * shuffle_buffer * converter.record_bytes("float32") / 2**20
        pairs = tuple(stead.find_pairs(datasets.generated_stead(workdir, traces)))
        config = converter.ConvertConfig(pairs=pairs, output_dir=records_dir, shard_mb=shard_mb, min_shards=1)
        converter.convert(config, progress=False)
    config = data.InputConfig(batch_size=batch_size, shuffle_buffer=shuffle_buffer)
    stats = class_mixing(epoch_labels(data.Records(records_dir), config), window, batch_size)
    windows = f"{stats['windows']} windows of {window:,}"
    spread = f"{stats['window_min']:.3f} to {stats['window_max']:.3f}"
    return [
        Row(
            "mixing.std_ratio",
            f"earthquake share of {windows}: std vs binomial ideal ({stats['ideal_std']:.3f})",
            stats["window_std"],
            "",
            "ideal shuffle",
            stats["std_ratio"],
            "<= 1.3",
        ),
        Row(
            "mixing.window_range",
            f"earthquake share of {windows}: lowest to highest",
            stats["window_max"] - stats["window_min"],
            "",
            spread,
        ),
        Row(
            "mixing.batch_min",
            f"lowest earthquake share of a batch of {batch_size}",
            stats["batch_min"],
            "",
            "",
            stats["batch_min"],
            ">= 0.3",
        ),
    ]
