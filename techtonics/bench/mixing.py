"""How well the training stream mixes the classes, against an ideal shuffle (testing/mixing.py measures)."""

from __future__ import annotations

import os

from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.conversion import converter, plan
from techtonics.core import fileio
from techtonics.data import records, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.testing import mixing
from techtonics.training import input_pipeline


def run(workdir: str, traces: int, shuffle_buffer: int, window: int, batch_size: int = 64) -> list[Row]:
    """Class mixing of one training epoch with default input settings and shards twice the shuffle buffer.

    traces: generated STEAD's size; shuffle_buffer: the input's; window:
    consecutive examples per window; batch_size: the batches whose lowest
    earthquake share is reported.
    """
    records_dir = os.path.join(workdir, f"records-{traces}-mixing")
    if not fileio.exists(fileio.join(records_dir, records.MANIFEST_NAME)):
        shard_mb = 2 * shuffle_buffer * plan.record_bytes("float32") / 2**20
        pairs = tuple(stead.find_pairs(datasets.generated_stead(workdir, traces)))
        config = plan.ConvertConfig(pairs=pairs, output_dir=records_dir, shard_mb=shard_mb, min_shards=1)
        converter.convert(config, progress=False)
    config = input_pipeline.InputConfig(batch_size=batch_size, shuffle_buffer=shuffle_buffer)
    stats = mixing.class_mixing(
        mixing.epoch_labels(ConvertedDataset(records_dir), config), window, batch_size
    )
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
