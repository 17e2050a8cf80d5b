"""Re-reading a converted dataset against its manifest (`convert --verify`).

The one conversion module that imports TensorFlow: it checks the shards
with TensorFlow's own reader, the one training will use.
"""

from __future__ import annotations

import numpy as np

from techtonics.core import fileio
from techtonics.data import records


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
            except (tf.errors.OpError, ValueError) as e:
                problems.append(f"{path}: unreadable after {count} records ({str(e).splitlines()[0]})")
                continue
            if count != shard["count"]:
                problems.append(f"{path}: {count} records, the manifest says {shard['count']} ({split})")
    return problems
