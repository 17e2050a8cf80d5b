"""How well the training stream mixes the classes, against an ideal shuffle: for the tests and the benchmark.

STEAD's files hold all noise first (chunk1), so anything that reads them in
file order feeds a model noise-only stretches followed by earthquake-only
ones. `class_mixing` measures the stream the trainer sees: the earthquake
fraction of every window of consecutive examples, whose spread an ideal
shuffle keeps at the binomial sqrt(p (1 - p) / window), and the worst batch.
"""

from __future__ import annotations

import math

import numpy as np

from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.training import input_pipeline, tasks


def epoch_labels(source: ConvertedDataset, config: input_pipeline.InputConfig) -> np.ndarray:
    """The class labels of one epoch of the training input, in the order the trainer sees them."""
    ds, steps = input_pipeline.split_dataset(
        source, "train", config, tasks.get("classification"), training=True
    )
    labels = ds.map(lambda batch: batch["y"]).take(steps)
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
