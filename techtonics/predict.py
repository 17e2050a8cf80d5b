"""Applies trained models to new data: `python -m techtonics.predict --model=EXPORT INPUT --output_dir=DIR`.

    python -m techtonics.predict --model=models/classification/export --model=models/magnitude/export \\
        --stead_dir=/data/STEAD --output_dir=/tmp/predictions
    python -m techtonics.predict --model=models/classification/export --records=/data/stead-tfrecords \\
        --split=test --output_dir=/tmp/test-predictions
    python -m techtonics.predict --model=models/classification/export --waveforms='/data/mseed/*.mseed' \\
        --output_dir=/tmp/detections --stride=10 --threshold=0.5

One input of three: STEAD files (--stead_dir, or --csv and --hdf5; optionally
--trace_list), a converted dataset (--records and --split), or continuous
recordings in any format ObsPy reads (--waveforms: files, directories or
globs). Every model predicts from the same batches. Writes OUTPUT_DIR/
predictions.csv and summary.json; for --waveforms also detections.csv and
figures/<station>.png. --output is the old name of --output_dir, kept for one
release. The logic is in techtonics.prediction (predictor.py, inputs.py,
continuous.py).
"""

from absl import flags

from techtonics.core import errors, options
from techtonics.prediction import inputs, predictor

flags.DEFINE_multi_string(
    "model", None, "An exported model directory (a model directory's export/); repeat for more."
)
flags.DEFINE_string("output_dir", None, "Where predictions.csv, detections.csv and figures go.")
flags.DEFINE_alias("output", "output_dir")  # the old spelling, for one release
options.define_flags(inputs.SourceConfig)
options.define_flags(predictor.PredictConfig)
flags.mark_flags_as_required(["model", "output_dir"])
FLAGS = flags.FLAGS


def main(argv):
    """Predicts and prints a summary line and where the outputs are."""
    del argv
    config = options.from_flags(
        predictor.PredictConfig, models=tuple(FLAGS.model), output_dir=FLAGS.output_dir
    )
    source = options.from_flags(inputs.SourceConfig).source(config.stride, config.fill_gaps)
    summary = predictor.predict(config, source)
    print(f"predictions: {summary['predictions_csv']}")
    if "detections_csv" in summary:
        print(f"detections:  {summary['detections_csv']}")
        if summary["figures"]:
            count = len(summary["figures"])
            print(f"figures:     {FLAGS.output_dir}/figures/ ({count} station{'' if count == 1 else 's'})")


if __name__ == "__main__":
    errors.run(main)
