"""Writes a synthetic STEAD: `python -m techtonics.synthetic`.

    python -m techtonics.synthetic --output_dir=DIR --earthquakes=N --noise=M --seed=S

writes chunk1.csv/.hdf5 (noise) and chunk2.csv/.hdf5 (earthquakes), or one
merged pair with --merged, in real STEAD's layout (generator.py says how the
traces are drawn). The same seed writes byte-identical files.
"""

from absl import flags

from techtonics.core import errors
from techtonics.synthetic import generator, reference

flags.DEFINE_string("output_dir", None, "Directory to write the STEAD files into.", required=True)
flags.DEFINE_integer("earthquakes", 1000, "Number of earthquake traces.", lower_bound=0)
flags.DEFINE_integer("noise", 1000, "Number of noise traces.", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Random seed; the same seed writes byte-identical files.")
flags.DEFINE_bool("merged", False, "Write one merged.csv/.hdf5 pair instead of chunk1 and chunk2.")
flags.DEFINE_integer("processes", None, "Generating processes (default: all cores).", lower_bound=1)
flags.DEFINE_enum(
    "profile",
    "stead",
    sorted(reference.PROFILES),
    "stead: SNR and P placement as in real STEAD; hard: the earlier, noisier mix, for stress tests.",
)
flags.DEFINE_bool("resume", False, "Keep pairs already written (a pair on disk is complete); write the rest.")
FLAGS = flags.FLAGS


def main(argv):
    """Writes the synthetic STEAD and prints what it wrote."""
    del argv
    pairs = generator.write_synthetic_stead(
        FLAGS.output_dir,
        FLAGS.earthquakes,
        FLAGS.noise,
        seed=FLAGS.seed,
        merged=FLAGS.merged,
        processes=FLAGS.processes,
        resume=FLAGS.resume,
        profile=FLAGS.profile,
    )
    for pair in pairs:
        print(f"wrote {pair.csv} and {pair.hdf5}")


if __name__ == "__main__":
    errors.run(main)
