"""Applies trained models to new data: `python -m techtonics.predict --model=EXPORT ... INPUT --output=DIR`.

    python -m techtonics.predict --model=models/classification/export --model=models/magnitude/export \\
        --stead_dir=/data/STEAD --output=/tmp/predictions
    python -m techtonics.predict --model=models/classification/export --records=/data/stead-tfrecords \\
        --split=test --output=/tmp/test-predictions
    python -m techtonics.predict --model=models/classification/export --waveforms='/data/mseed/*.mseed' \\
        --output=/tmp/detections --stride=10 --threshold=0.5

One input of three: STEAD files (--stead_dir, or --csv and --hdf5; optionally
--trace_list), a converted dataset (--records and --split), or continuous
recordings in any format ObsPy reads (--waveforms: files, directories or
globs). Every model predicts from the same batches. Writes OUTPUT/
predictions.csv and summary.json; for --waveforms also detections.csv and
figures/<station>.png. The logic is in predictor.py, predict_inputs.py and
continuous.py.
"""

from absl import flags

from techtonics import errors, options, predict_inputs, predictor, splits, stead

flags.DEFINE_multi_string(
    "model", None, "An exported model directory (a model directory's export/); repeat for more."
)
flags.DEFINE_string("output", None, "Where predictions.csv, detections.csv and figures go.")
flags.DEFINE_string(
    "stead_dir", None, "STEAD input: a directory of chunkN.csv/.hdf5 pairs or merged.csv/.hdf5."
)
flags.DEFINE_list("csv", [], "STEAD input: explicit CSV files, paired with --hdf5.")
flags.DEFINE_list("hdf5", [], "STEAD input: explicit HDF5 files, in the order of --csv.")
flags.DEFINE_string("trace_list", None, "STEAD input: only the traces named in this file (one a line).")
flags.DEFINE_string("records", None, "Records input: a converted dataset (its directory or manifest.json).")
flags.DEFINE_enum("split", "test", list(splits.SPLITS), "Records input: the split to predict.")
flags.DEFINE_list("waveforms", [], "Continuous input: files, directories or globs of recordings ObsPy reads.")
options.define_flags(predictor.PredictConfig)
flags.mark_flags_as_required(["model", "output"])
FLAGS = flags.FLAGS


def source(config: predictor.PredictConfig) -> predict_inputs.Source:
    """The one input the flags name."""
    given = [
        name
        for name, on in (
            ("STEAD", FLAGS.stead_dir or FLAGS.csv or FLAGS.hdf5),
            ("--records", FLAGS.records),
            ("--waveforms", FLAGS.waveforms),
        )
        if on
    ]
    if len(given) != 1:
        raise errors.UserError(
            "give one input: --stead_dir (or --csv and --hdf5), --records, or --waveforms"
            + (f"; got {' and '.join(given)}" if given else "")
        )
    if FLAGS.records:
        return predict_inputs.records_source(FLAGS.records, FLAGS.split)
    if FLAGS.waveforms:
        return predict_inputs.waveforms_source(FLAGS.waveforms, config.stride, config.fill_gaps)
    pairs = (
        stead.find_pairs(FLAGS.stead_dir)
        if FLAGS.stead_dir
        else stead.pairs_from_lists(FLAGS.csv, FLAGS.hdf5)
    )
    return predict_inputs.stead_source(pairs, FLAGS.trace_list)


def main(argv):
    """Predicts and prints a summary line and where the outputs are."""
    del argv
    config = options.from_flags(predictor.PredictConfig, models=tuple(FLAGS.model), output=FLAGS.output)
    summary = predictor.predict(config, source(config))
    print(f"predictions: {summary['predictions_csv']}")
    if "detections_csv" in summary:
        print(f"detections:  {summary['detections_csv']}")
        if summary["figures"]:
            count = len(summary["figures"])
            print(f"figures:     {FLAGS.output}/figures/ ({count} station{'' if count == 1 else 's'})")


if __name__ == "__main__":
    errors.run(main)
