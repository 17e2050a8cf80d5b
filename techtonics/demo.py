"""README's main job, end to end on the embedded default (a synthetic STEAD).

    python -m techtonics.demo --output_dir=workdir/demo     # or: make demo

Generates a synthetic STEAD, converts it, trains a classifier, a
magnitude regressor and the picker, evaluates them,
applies them to a synthetic continuous recording and scores them with the
field's pick-benchmark (techtonics/experiments/demo.py says how, and holds
the training flags). Every stage resumes what an interrupted run left, so
re-running the command picks up where it stopped. About 15 minutes on 2
cores.
"""

from absl import flags

from techtonics.core import errors
from techtonics.experiments import demo

flags.DEFINE_string("output_dir", "workdir/demo", "Where the demo writes its data and results.")
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
