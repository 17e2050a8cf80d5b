"""Convert STEAD (CSV + HDF5) into verified, resumable, sharded TFRecords.

    python tools/convert_to_tfrecord.py --stead_dir=/data/STEAD --output_dir=gs://bucket/stead-tfrecords
    python tools/convert_to_tfrecord.py --flagfile=configs/convert_original_subset.flags --verify

Re-running the same command resumes a killed run. The logic lives in
techtonics.convert; this file only maps flags onto it.
"""

import sys

from absl import app, flags

from techtonics import convert, records, splits, stead

FLAGS = flags.FLAGS
flags.DEFINE_string("stead_dir", None, "Directory holding chunkN.csv/.hdf5 pairs or merged.csv/.hdf5.")
flags.DEFINE_list("csv", [], "Explicit STEAD CSV files (instead of --stead_dir), paired with --hdf5.")
flags.DEFINE_list("hdf5", [], "Explicit STEAD HDF5 files, in the same order as --csv.")
flags.DEFINE_string("output_dir", None, "Where shards and manifest.json go (local, gs://, s3://).")
flags.DEFINE_integer("noise_traces", -1, "Random subset size of noise traces; -1 for all.", lower_bound=-1)
flags.DEFINE_integer(
    "earthquake_traces", -1, "Random subset size of earthquakes; -1 for all.", lower_bound=-1
)
flags.DEFINE_integer("seed", 0, "Seed of the subset, the splits and the shard assignment.")
flags.DEFINE_float("validation_fraction", 0.1, "Share of each class for validation.")
flags.DEFINE_float("test_fraction", 0.1, "Share of each class for test (ignored with --test_trace_list).")
flags.DEFINE_enum("split_by", "trace", splits.SPLIT_BY, "'source_id' keeps each event's traces in one split.")
flags.DEFINE_string("test_trace_list", None, "File of trace names (one a line) that form the test split.")
flags.DEFINE_enum("encoding", "float32", records.ENCODINGS, "Waveform encoding; int16 halves the size.")
flags.DEFINE_enum("compression", "NONE", convert.COMPRESSIONS, "TFRecord compression.")
flags.DEFINE_float("shard_mb", 150.0, "Target shard size in MB.")
flags.DEFINE_integer(
    "min_shards", 8, "Fewest shards per split (more shards, more parallel readers).", lower_bound=1
)
flags.DEFINE_enum("on_bad_trace", "skip", convert.ON_BAD_TRACE, "Skip (and count) or fail on a bad trace.")
flags.DEFINE_integer("num_workers", None, "Writer processes (default: all cores).", lower_bound=1)
flags.DEFINE_bool(
    "verify",
    False,
    "Re-read every shard and check it against the manifest; with no input flags, only verify.",
)
flags.DEFINE_bool("progress", True, "Print progress and a summary to stderr.")
flags.mark_flag_as_required("output_dir")


def _config() -> convert.ConvertConfig:
    if FLAGS.stead_dir and (FLAGS.csv or FLAGS.hdf5):
        raise app.UsageError("give --stead_dir or --csv/--hdf5, not both")
    pairs = (
        stead.find_pairs(FLAGS.stead_dir)
        if FLAGS.stead_dir
        else stead.pairs_from_lists(FLAGS.csv, FLAGS.hdf5)
    )
    return convert.ConvertConfig(
        pairs=tuple(pairs),
        output_dir=FLAGS.output_dir,
        noise_traces=None if FLAGS.noise_traces < 0 else FLAGS.noise_traces,
        earthquake_traces=None if FLAGS.earthquake_traces < 0 else FLAGS.earthquake_traces,
        split=splits.SplitConfig(
            FLAGS.validation_fraction, FLAGS.test_fraction, FLAGS.split_by, seed=FLAGS.seed
        ),
        test_trace_list=FLAGS.test_trace_list,
        encoding=FLAGS.encoding,
        compression=FLAGS.compression,
        shard_mb=FLAGS.shard_mb,
        min_shards=FLAGS.min_shards,
        on_bad_trace=FLAGS.on_bad_trace,
        num_workers=FLAGS.num_workers,
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    has_input = bool(FLAGS.stead_dir or FLAGS.csv or FLAGS.hdf5)
    if not has_input and not FLAGS.verify:
        raise app.UsageError("give --stead_dir (or --csv and --hdf5), or --verify")
    try:
        if has_input:
            convert.convert(_config(), progress=FLAGS.progress)
        if FLAGS.verify:
            problems = convert.verify(FLAGS.output_dir)
            for problem in problems:
                print(f"verify: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"verify: every shard in {FLAGS.output_dir} matches the manifest", file=sys.stderr)
    except ValueError as e:  # SteadError, ConversionError and bad arguments: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
