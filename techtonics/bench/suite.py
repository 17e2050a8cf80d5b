"""The whole benchmark: the parts that are asked for, at their sizes, and the report of all of them.

The command is `python -m techtonics.bench` (__main__.py); each part is one
module of this package (__init__.py lists them).
"""

from __future__ import annotations

import os
import resource

import tensorflow as tf

from techtonics.bench import (
    archive,
    conversion,
    datasets,
    mixing,
    pipeline,
    prediction,
    profile,
    report,
    scale,
    storage,
    training,
)
from techtonics.core import fileio
from techtonics.training import input_pipeline

PARTS = ("conversion", "mixing", "pipeline", "training", "prediction", "archive", "storage", "scale")
DEFAULT_PARTS = PARTS[:-1]  # scale takes about an hour and 45 GB
BATCH_SIZE = 32


def run(
    output_dir: str,
    parts: list[str],
    quick: bool = False,
    processes: int | None = None,
    scale_traces: int = scale.BASELINE_TRACES,
    seisbench_python: str = "",
) -> None:
    """Runs the parts and writes bench.json, bench.md and bench.png into output_dir; prints the tables.

    quick: small sizes, for a quick check; processes: processes (default: all
    cores); scale_traces: traces of the full-size run (part `scale`);
    seisbench_python: an interpreter with SeisBench, to time its conversion
    ("" to skip).
    """
    os.makedirs(output_dir, exist_ok=True)
    processes = processes or os.cpu_count() or 1
    traces, small = (2000, 500) if quick else (20000, 2000)
    pipeline_traces = 1000 if quick else 4000
    if "scale" in parts:  # before any part runs: the full size may not fit
        scale.check_disk(output_dir, [scale.BASELINE_TRACES, scale_traces])
    rows, profiled, stages = [], [], []
    if "conversion" in parts:
        rows += conversion.run(output_dir, traces, small, processes, seisbench_python)
    if "mixing" in parts:
        # Quick: 1,600 training examples, so a buffer of 256 keeps shards twice as large as the buffer.
        buffer = 256 if quick else input_pipeline.InputConfig().shuffle_buffer
        rows += mixing.run(output_dir, traces, buffer, window=128 if quick else 1024)
    if "pipeline" in parts:
        rows += pipeline.run(
            output_dir, pipeline_traces, BATCH_SIZE, processes, png_traces=100 if quick else 1000
        )
        records_dir = datasets.records_dir(output_dir, pipeline_traces)
        profiled = profile.profile_pipeline(
            records_dir, BATCH_SIZE, 20 if quick else 100, os.path.join(output_dir, "profile")
        )
    if "training" in parts:
        rows += training.run(output_dir, pipeline_traces, BATCH_SIZE, steps=3 if quick else 100)
    if "prediction" in parts:
        rows += prediction.run(output_dir, pipeline_traces, stream_hours=2.0 if quick else 8.0)
    if "archive" in parts:
        rows += archive.run(output_dir, quick)
    if "storage" in parts:
        if fileio.extra_file_systems():
            rows += storage.run(output_dir, pipeline_traces, BATCH_SIZE)
        else:
            print(f"storage: not measured: {fileio.no_file_system('s3')}")
    if "scale" in parts:
        scale_rows, stages = scale.run(output_dir, scale_traces, processes)
        rows += scale_rows
    scale_table = scale.markdown(stages, scale_traces, scale.BASELINE_TRACES) if stages else ""
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    report.write(output_dir, rows, report.machine(gpus, tf.__version__), profiled, scale_table, stages)
    print(report.markdown(rows))
    if scale_table:
        print(scale_table)
    print(f"results: {output_dir}/bench.json, bench.md, bench.png")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
