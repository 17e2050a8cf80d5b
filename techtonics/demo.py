"""README's main job, end to end on the embedded default (a synthetic STEAD).

    python -m techtonics.demo --output_dir=workdir/demo     # or: make demo

Generates a synthetic STEAD, converts it, trains a classifier and a
magnitude regressor, evaluates both, and applies them to a synthetic
continuous recording (techtonics/experiments/demo.py says how, and holds
the training flags). Every stage resumes what an interrupted run left, so
re-running the command picks up where it stopped. About 3 minutes on 2
cores. --workdir is the old name of --output_dir, kept for one release.
"""

from absl import flags

from techtonics.core import errors
from techtonics.experiments import demo

flags.DEFINE_string("output_dir", "workdir/demo", "Where the demo writes its data and results.")
flags.DEFINE_alias("workdir", "output_dir")
flags.DEFINE_integer("earthquakes", 2000, "Synthetic earthquake traces.", lower_bound=1)
flags.DEFINE_integer("noise", 2000, "Synthetic noise traces.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the synthetic STEAD.")
FLAGS = flags.FLAGS


def main(argv):
    """Runs every stage of the demo in order."""
    del argv
    demo.run(FLAGS.output_dir, FLAGS.earthquakes, FLAGS.noise, FLAGS.seed)


if __name__ == "__main__":
    errors.run(main)
