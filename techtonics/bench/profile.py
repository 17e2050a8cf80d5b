"""The input pipeline's stages under the TensorFlow profiler: where a batch's time goes."""

from __future__ import annotations

import collections
import re
import time

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from techtonics.core import fileio
from techtonics.data.converted import ConvertedDataset
from techtonics.training import input_pipeline, tasks


def profile_pipeline(records_dir: str, batch_size: int, batches: int, logdir: str) -> list[dict]:
    """The input pipeline's stages under the TensorFlow profiler, for `batches` steady batches.

    Per stage: seconds inside its GetNext (what its consumer waited, children
    included) and, for parallel stages, seconds its worker threads were busy
    producing, each summed over threads and divided by the wall time, so a
    share above 1 means several threads. The trace stays in logdir for
    TensorBoard's profile plugin.
    """
    config = input_pipeline.InputConfig(batch_size=batch_size)
    source, task = ConvertedDataset(records_dir), tasks.get("classification")
    pipeline, _ = input_pipeline.split_dataset(source, "train", config, task, training=True)
    iterator = iter(pipeline)
    for _ in range(batches):
        next(iterator)
    fileio.rmtree(logdir)
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with fileio.open_file(fileio.glob(f"{logdir}/plugins/profile/*/*.xplane.pb")[-1], "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name.startswith("Iterator::") or name.endswith(
                    "Produce"
                ):  # a stage's [0], [1], ... together
                    seconds[re.sub(r"\[\d+\]", "", name)] += event.duration_ps / 1e12
    stages = sorted(seconds.items(), key=lambda item: (item[0].endswith("Produce"), len(item[0])))
    return [
        {
            "stage": name.rsplit("::", 1)[-1],
            "depth": name.count("::"),
            "kind": "produce" if name.endswith("Produce") else "get_next",
            "seconds": t,
            "share_of_wall": t / wall,
        }
        for name, t in stages
    ]
