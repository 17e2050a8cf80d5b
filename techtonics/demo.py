"""README's main job, end to end on the embedded default (a synthetic STEAD).

    python -m techtonics.demo --workdir=workdir/demo     # or: make demo

Writes a synthetic STEAD into WORKDIR/stead, converts it into verified
TFRecord shards in WORKDIR/records (80/10/10, no event in two splits), and
prints where everything is. Each stage skips work whose output is already
complete, so re-running the command after an interruption picks up where it
stopped. About a minute on 2 cores.
"""

import os

from absl import app, flags

from techtonics import convert, records, splits, stead, synthetic

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


def to_records(pairs: list[stead.SteadPair], records_dir: str) -> dict:
    """Converts to TFRecords (resuming if interrupted) and verifies every shard."""
    print(f"converting to TFRecords in {records_dir} ...")
    config = convert.ConvertConfig(
        pairs=tuple(pairs),
        output_dir=records_dir,
        split=splits.SplitConfig(split_by="source_id", seed=FLAGS.seed),
    )
    manifest = convert.convert(config)
    problems = convert.verify(records_dir)
    if problems:
        raise SystemExit("verify failed: " + "; ".join(problems))
    return manifest


def main(argv):
    """Runs every stage of the demo in order."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    stead_dir = os.path.join(FLAGS.workdir, "stead")
    records_dir = os.path.join(FLAGS.workdir, "records")
    pairs = generate(stead_dir)
    to_records(pairs, records_dir)
    print("\ndone:")
    print(f"  synthetic STEAD:   {stead_dir}/ ({', '.join(p.name for p in pairs)})")
    print(f"  TFRecords:         {records_dir}/ (verified against {records.MANIFEST_NAME})")


if __name__ == "__main__":
    app.run(main)
