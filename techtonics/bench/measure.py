"""One benchmark measurement in a process of its own (measurements.py): the benchmark runs it, not users.

    python -m techtonics.bench.measure --measurement=pipeline_rate \\
        --arguments='{"records_dir": "/tmp/records", "batch_size": 32}' --result=/tmp/result.json

writes the measurement's result, a JSON object, atomically to --result.
"""

from absl import flags

from techtonics.bench import measurements
from techtonics.core import errors

flags.DEFINE_enum("measurement", None, sorted(measurements.MEASUREMENTS), "What to measure.")
flags.DEFINE_string("arguments", "{}", "The measurement's keyword arguments, as a JSON object.")
flags.DEFINE_string("result", None, "Where the result (JSON) is written, atomically.")
flags.mark_flags_as_required(["measurement", "result"])
FLAGS = flags.FLAGS


def main(argv):
    """Measures and writes the result."""
    del argv
    measurements.measure(FLAGS.measurement, FLAGS.arguments, FLAGS.result)


if __name__ == "__main__":
    errors.run(main)
