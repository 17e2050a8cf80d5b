"""Re-reading a converted dataset against its manifest (`convert --verify`).

The one conversion module that imports TensorFlow: it checks the shards
with TensorFlow's own reader, the one training will use.
"""

from __future__ import annotations

import re

import numpy as np

from techtonics.core import fileio
from techtonics.data import records


def unreadable(path: str, compression: str) -> str | None:
    """ "PATH: record N is unreadable (reason)" for a shard TensorFlow cannot read whole; None if it can.

    Reads record by record, so N is the first bad record, not the start of a batch.
    """
    import tensorflow as tf  # see verify

    count = 0
    try:
        for _ in tf.data.TFRecordDataset(path, compression_type=compression):
            count += 1
    except tf.errors.OpError as e:
        # "{{function_node ...}} corrupted record at 507225 [Op:IteratorGetNext] name:": keep the middle.
        reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", e.message.splitlines()[0]).strip() or type(e).__name__
        return f"{path}: record {count} is unreadable ({reason})"
    return None


def first_unreadable(paths: list[str], compression: str) -> str | None:
    """The first of the shards that TensorFlow cannot read whole, named with its bad record; None if none."""
    return next((problem for path in paths if (problem := unreadable(path, compression))), None)


def verify(output_dir: str) -> list[str]:
    """Re-reads every shard against the manifest; returns the problems found (none: [])."""
    # Imported here, not with the module: the convert command imports this module, and its spawned writer
    # processes import the command's module again; they must not load TensorFlow.
    import tensorflow as tf

    manifest = records.read_manifest(output_dir)
    encoding = manifest["waveform"]["encoding"]
    compression = records.compression_type(manifest)
    problems = []
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            path = fileio.join(output_dir, shard["file"])
            if not fileio.exists(path):
                problems.append(f"{path}: missing")
                continue
            if fileio.sha256(path) != shard["sha256"]:
                problems.append(f"{path}: sha256 differs from the manifest")
            count = 0
            try:
                dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(256)
                for batch in dataset:
                    waveforms = records.parse_batch(batch, encoding)["waveform"]
                    finite = tf.reduce_all(tf.math.is_finite(waveforms), axis=[1, 2]).numpy()
                    if not finite.all():
                        problems.append(
                            f"{path}: record {count + int(np.argmin(finite))} has non-finite samples"
                        )
                    count += int(finite.size)
            except (tf.errors.OpError, ValueError):
                problems.append(unreadable(path, compression))
                continue
            if count != shard["count"]:
                problems.append(f"{path}: {count} records, the manifest says {shard['count']} ({split})")
    return problems
