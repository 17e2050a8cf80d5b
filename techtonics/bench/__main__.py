"""One benchmark command: the parts of techtonics.bench, and their report.

    python -m techtonics.bench --output_dir=/tmp/techtonics-bench            # about 30 minutes on 2 cores
    python -m techtonics.bench --output_dir=/tmp/techtonics-bench --quick    # about 4 minutes
    python -m techtonics.bench --parts=archive                               # station archives: 20 minutes
    python -m techtonics.bench --parts=scale                                 # the full-size run: about 45 GB

Results: OUTPUT_DIR/bench.json, bench.md (the tables and the input profile)
and bench.png (every ratio against its goal); suite.py runs the parts.
"""

from absl import flags, logging

from techtonics.bench import conversion, scale, suite
from techtonics.core import errors
from techtonics.synthetic import reference

flags.DEFINE_string("output_dir", "/tmp/techtonics-bench", "Where generated data and results go.")
flags.DEFINE_bool("quick", False, "Small sizes, for a quick check.")
flags.DEFINE_integer(
    "processes", None, "Generating and converting processes (default: all cores).", lower_bound=1
)
flags.DEFINE_multi_enum("parts", list(suite.DEFAULT_PARTS), suite.PARTS, "What to measure.")
flags.DEFINE_integer(
    "scale_traces",
    reference.ORIGINAL_SUBSET_TRACES,
    "Traces of the full-size run (--parts=scale).",
    lower_bound=scale.BASELINE_TRACES + 1,
)
flags.DEFINE_string(
    "seisbench_python", "", "An interpreter with SeisBench installed: compare its STEAD conversion."
)
flags.register_validator(
    "seisbench_python",
    lambda path: not path or conversion.has_seisbench(path),
    message="needs an interpreter that can import seisbench, and a checkout with tools/seisbench_peer.py",
)
FLAGS = flags.FLAGS


def main(argv):
    """Runs the parts and writes bench.json, bench.md and bench.png into --output_dir."""
    del argv
    # TensorFlow's INFO lines (SavedModel assets, checkpoints) bury the tables.
    logging.set_verbosity(logging.WARNING)
    suite.run(
        FLAGS.output_dir,
        FLAGS.parts,
        FLAGS.quick,
        FLAGS.processes,
        FLAGS.scale_traces,
        FLAGS.seisbench_python,
    )


if __name__ == "__main__":
    errors.run(main)
