"""The original project's experiments, reproduced on the synthetic STEAD, with one command.

    python -m techtonics.reproduce --output_dir=workdir/reproduce      # or: make reproduce; ~2 hours, 2 cores
    python -m techtonics.reproduce --output_dir=workdir/full --traces=267822   # the original's whole subset

Generates, converts, trains the original's classifier and regressors, and
writes RESULTS.md: every metric beside the figure the original reported on
real STEAD (techtonics/experiments/reproduction.py says how). Every stage
resumes what an interrupted run left.
"""

from absl import flags

from techtonics.core import errors
from techtonics.experiments import reproduction

flags.DEFINE_string("output_dir", "workdir/reproduce", "Where the data, records and models go.")
flags.DEFINE_integer(
    "traces", 10_000, "Synthetic traces in all (the original's subsets: 9-12 thousand).", 100
)
flags.DEFINE_integer("seed", 0, "Seed of the synthetic STEAD and its split.")
flags.DEFINE_string(
    "results", None, "Where RESULTS.md goes (default: OUTPUT_DIR/RESULTS.md), figures beside it."
)
flags.DEFINE_string("real_metadata", None, "Real STEAD metadata CSV to draw beside the synthetic data.")
FLAGS = flags.FLAGS


def main(argv):
    """Runs every stage in order (each resumes) and prints where RESULTS.md is."""
    del argv
    path = reproduction.run(FLAGS.output_dir, FLAGS.traces, FLAGS.seed, FLAGS.results, FLAGS.real_metadata)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    errors.run(main)
