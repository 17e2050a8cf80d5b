"""README's main job, end to end on the embedded default (a synthetic STEAD).

    python -m techtonics.demo --workdir=workdir/demo     # or: make demo

Writes the synthetic STEAD into WORKDIR/stead and prints where everything is.
Each stage skips work whose output is already complete, so re-running the
command after an interruption picks up where it stopped.
"""

import os

from absl import app, flags

from techtonics import stead, synthetic

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "workdir/demo", "Where the demo writes its data and results.")
flags.DEFINE_integer("earthquakes", 2000, "Synthetic earthquake traces.", lower_bound=1)
flags.DEFINE_integer("noise", 2000, "Synthetic noise traces.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the synthetic STEAD.")


def generate(stead_dir: str) -> list[stead.SteadPair]:
    """Writes the synthetic STEAD unless a complete one is already there."""
    try:
        pairs = stead.find_pairs(stead_dir)
        print(f"synthetic STEAD already in {stead_dir}")
        return pairs
    except stead.SteadError:
        print(f"writing {FLAGS.earthquakes} earthquake + {FLAGS.noise} noise traces to {stead_dir} ...")
        return synthetic.write_synthetic_stead(stead_dir, FLAGS.earthquakes, FLAGS.noise, FLAGS.seed)


def main(argv):
    """Runs every stage of the demo in order."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    stead_dir = os.path.join(FLAGS.workdir, "stead")
    for pair in generate(stead_dir):
        meta = stead.read_metadata(pair.csv)
        counts = meta.trace_category.value_counts().to_dict()
        print(f"  {pair.csv}: {len(meta)} traces {counts}; waveforms in {pair.hdf5}")


if __name__ == "__main__":
    app.run(main)
