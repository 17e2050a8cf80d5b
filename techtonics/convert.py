"""Converts STEAD (CSV + HDF5) into verified, resumable, sharded TFRecords.

    python -m techtonics.convert --stead_dir=/data/STEAD --output_dir=gs://bucket/stead-tfrecords
    python tools/convert_to_tfrecord.py --flagfile=configs/convert_original_subset.flags \\
        --stead_dir=/data/STEAD --output_dir=/data/stead-original-subset --verify

(tools/convert_to_tfrecord.py runs this same command.) Re-running a command
resumes a killed run; --verify re-reads every shard against the manifest, and
with no input flags only verifies. Every option is declared once, in
converter.ConvertConfig; the logic lives in techtonics.converter.
"""

import sys

from absl import flags

from techtonics import converter, errors, options, stead

flags.DEFINE_string("stead_dir", None, "Directory holding chunkN.csv/.hdf5 pairs or merged.csv/.hdf5.")
flags.DEFINE_list("csv", [], "Explicit STEAD CSV files (instead of --stead_dir), paired with --hdf5.")
flags.DEFINE_list("hdf5", [], "Explicit STEAD HDF5 files, in the same order as --csv.")
flags.DEFINE_string("output_dir", None, "Where shards and manifest.json go (local, gs://, s3://).")
options.define_flags(converter.ConvertConfig)
flags.DEFINE_bool(
    "verify",
    False,
    "Re-read every shard and check it against the manifest; with no input flags, only verify.",
)
flags.DEFINE_bool("progress", True, "Print progress and a summary to stderr.")
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS


def _pairs() -> tuple[stead.SteadPair, ...]:
    if FLAGS.stead_dir and (FLAGS.csv or FLAGS.hdf5):
        raise errors.UserError("give --stead_dir or --csv/--hdf5, not both")
    if FLAGS.stead_dir:
        return tuple(stead.find_pairs(FLAGS.stead_dir))
    return tuple(stead.pairs_from_lists(FLAGS.csv, FLAGS.hdf5))


def main(argv):
    """Converts, verifies, or both; exits 1 when a shard does not match the manifest."""
    del argv
    has_input = bool(FLAGS.stead_dir or FLAGS.csv or FLAGS.hdf5)
    if not has_input and not FLAGS.verify:
        raise errors.UserError("give --stead_dir (or --csv and --hdf5), or --verify")
    if has_input:
        config = options.from_flags(converter.ConvertConfig, pairs=_pairs(), output_dir=FLAGS.output_dir)
        converter.convert(config, progress=FLAGS.progress)
    if FLAGS.verify:
        problems = converter.verify(FLAGS.output_dir)
        for problem in problems:
            print(f"verify: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"verify: every shard in {FLAGS.output_dir} matches the manifest", file=sys.stderr)
    return 0


if __name__ == "__main__":
    errors.run(main)
