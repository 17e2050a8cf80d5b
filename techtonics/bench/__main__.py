"""One benchmark command: the parts of techtonics.bench, and their report.

    python -m techtonics.bench --workdir=/tmp/techtonics-bench            # about 10 minutes on 2 cores
    python -m techtonics.bench --workdir=/tmp/techtonics-bench --quick    # under 2 minutes
    python -m techtonics.bench --parts=scale                              # the full-size run: about 45 GB

Results: WORKDIR/bench.json, bench.md (the tables and the input profile) and
bench.png (every ratio against its goal).
"""

import os
import resource

import tensorflow as tf
from absl import flags, logging

from techtonics import data, errors
from techtonics.bench import (
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

PARTS = ("conversion", "mixing", "pipeline", "training", "prediction", "storage", "scale")
DEFAULT_PARTS = PARTS[:-1]  # scale takes about an hour and 45 GB

flags.DEFINE_string("workdir", "/tmp/techtonics-bench", "Where generated data and results go.")
flags.DEFINE_bool("quick", False, "Small sizes, for a quick check.")
flags.DEFINE_integer("workers", None, "Processes (default: all cores).", lower_bound=1)
flags.DEFINE_multi_enum("parts", list(DEFAULT_PARTS), PARTS, "What to measure.")
flags.DEFINE_integer(
    "scale_traces", 267822, "Traces of the full-size run (--parts=scale).", lower_bound=20001
)
flags.DEFINE_string(
    "seisbench_python", "", "An interpreter with SeisBench installed: compare its STEAD conversion."
)
flags.register_validator(
    "seisbench_python",
    lambda path: not path or conversion.has_seisbench(path),
    message="needs a Python interpreter that can import seisbench (see techtonics/bench/seisbench_peer.py)",
)
FLAGS = flags.FLAGS


def main(argv):
    """Runs the parts and writes bench.json, bench.md and bench.png into --workdir."""
    del argv
    logging.set_verbosity(
        logging.WARNING
    )  # TensorFlow's INFO lines (SavedModel assets, checkpoints) bury the tables
    workdir, parts, quick = FLAGS.workdir, FLAGS.parts, FLAGS.quick
    os.makedirs(workdir, exist_ok=True)
    workers = FLAGS.workers or os.cpu_count() or 1
    traces, small = (2000, 500) if quick else (20000, 2000)
    pipeline_traces, batch_size = (1000 if quick else 4000), 32
    if "scale" in parts:
        scale.check_disk(workdir, [scale.BASELINE_TRACES, FLAGS.scale_traces])
    rows, profiled, stages = [], [], []
    if "conversion" in parts:
        rows += conversion.run(workdir, traces, small, workers, FLAGS.seisbench_python)
    if "mixing" in parts:
        # Quick: 1,600 training examples, so a buffer of 256 keeps shards twice as large as the buffer.
        buffer = 256 if quick else data.InputConfig().shuffle_buffer
        rows += mixing.run(workdir, traces, buffer, window=128 if quick else 1024)
    if "pipeline" in parts:
        rows += pipeline.run(workdir, pipeline_traces, batch_size, workers, png_traces=100 if quick else 1000)
        records_dir = datasets.records_dir(workdir, pipeline_traces)
        profiled = profile.profile_pipeline(
            records_dir, batch_size, 20 if quick else 100, os.path.join(workdir, "profile")
        )
    if "training" in parts:
        rows += training.run(workdir, pipeline_traces, batch_size, steps=3 if quick else 100)
    if "prediction" in parts:
        rows += prediction.run(workdir, pipeline_traces, stream_hours=2.0 if quick else 8.0)
    if "storage" in parts:
        rows += storage.run(workdir, pipeline_traces, batch_size)
    if "scale" in parts:
        scale_rows, stages = scale.run(workdir, FLAGS.scale_traces, workers)
        rows += scale_rows
    scale_table = scale.markdown(stages, FLAGS.scale_traces, scale.BASELINE_TRACES) if stages else ""
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    report.write(workdir, rows, report.machine(gpus, tf.__version__), profiled, scale_table, stages)
    print(report.markdown(rows))
    if scale_table:
        print(scale_table)
    print(f"results: {workdir}/bench.json, bench.md, bench.png")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    errors.run(main)
