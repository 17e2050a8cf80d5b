"""Converts STEAD (CSV + HDF5) into verified, resumable, sharded TFRecords.

    python -m techtonics.convert --stead_dir=/data/STEAD --output_dir=gs://bucket/stead-tfrecords
    python -m techtonics.convert --seisbench_dir=~/.seisbench/datasets/instance --output_dir=/data/instance
    python tools/convert_to_tfrecord.py --flagfile=configs/convert_original_subset.flags \\
        --stead_dir=/data/STEAD --output_dir=/data/stead-original-subset --verify

(tools/convert_to_tfrecord.py runs this same command.) Re-running a command
resumes a killed run; --verify re-reads every shard against the manifest, and
with no input flags only verifies. Every option is declared once, on
stead.SteadFiles or seisbench.SeisBenchFiles (the input, one of them) and
plan.ConvertConfig; the logic lives in techtonics.conversion.
"""

import sys

from absl import flags

from techtonics.conversion import converter, plan, verify
from techtonics.core import errors, options
from techtonics.data import seisbench, stead

options.define_flags(stead.SteadFiles)
options.define_flags(seisbench.SeisBenchFiles)
flags.DEFINE_string(
    "output_dir",
    None,
    "Where shards and manifest.json go (local, gs://, s3:// with the s3 extra).",
)
options.define_flags(plan.ConvertConfig)
flags.DEFINE_bool(
    "verify",
    False,
    "Re-read every shard and check it against the manifest; with no input flags, only verify.",
)
flags.DEFINE_bool("progress", True, "Print progress and a summary to stderr.")
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS


def main(argv):
    """Converts, verifies, or both; exits 1 when a shard does not match the manifest."""
    del argv
    files = options.from_flags(stead.SteadFiles)
    seisbench_files = options.from_flags(seisbench.SeisBenchFiles)
    if files.given and seisbench_files.given:
        raise errors.UserError("give one input: --stead_dir (or --csv and --hdf5) or --seisbench_dir")
    if not files.given and not seisbench_files.given and not FLAGS.verify:
        raise errors.UserError("give --stead_dir (or --csv and --hdf5), --seisbench_dir, or --verify")
    if files.given or seisbench_files.given:
        pairs = files.pairs() or seisbench_files.chunks()
        config = options.from_flags(plan.ConvertConfig, pairs=pairs, output_dir=FLAGS.output_dir)
        converter.convert(config, progress=FLAGS.progress)
    if FLAGS.verify:
        problems = verify.verify(FLAGS.output_dir)
        for problem in problems:
            print(f"verify: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"verify: every shard in {FLAGS.output_dir} matches the manifest", file=sys.stderr)
    return 0


if __name__ == "__main__":
    errors.run(main)
