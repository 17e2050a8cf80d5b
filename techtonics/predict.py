"""Applies trained models to new data: `python -m techtonics.predict --model=EXPORT INPUT --output_dir=DIR`.

    python -m techtonics.predict --model=models/classification/export --model=models/magnitude/export \\
        --stead_dir=/data/STEAD --output_dir=/tmp/predictions
    python -m techtonics.predict --model=models/classification/export --records=/data/stead-tfrecords \\
        --split=test --output_dir=/tmp/test-predictions
    python -m techtonics.predict --model=models/classification/export --waveforms='/data/mseed/*.mseed' \\
        --output_dir=/tmp/detections --stride=10 --threshold=auto
    python -m techtonics.predict --model=models/classification/export --sds_root=/data/SDS \\
        --start=2024-01-01 --end=2025-01-01 --stations='XX.STA0*' --output_dir=/out --slurm_shards
    python -m techtonics.predict --model=models/classification/export --stead_dir=/data/STEAD \\
        --output_dir=/out --num_shards=4 --shard_index=2        # writes /out/shard-00002-of-00004/
    python -m techtonics.predict --merge=/out --output_dir=/out

One input of five: STEAD files (--stead_dir, or --csv and --hdf5; optionally
--trace_list), a SeisBench-format dataset (--seisbench_dir; --trace_list too),
a converted dataset (--records and --split), or continuous recordings: in
any format ObsPy reads (--waveforms: files, directories or globs), or a
SeisComP Data Structure archive (--sds_root), with --start, --end and
--stations choosing what of them. Every model predicts from the same
batches. Writes OUTPUT_DIR/predictions.csv and summary.json; for
continuous input also detections.csv, the same detections as QuakeML
(detections.xml) and, with an arrival model, picks.csv in PhaseNet's
columns (prediction/catalog.py), and figures/<station>.png.
--threshold=auto (the default) detects at the threshold the classifier's
evaluation chose on its validation split. Continuous input is predicted
one station-day at a time, in memory that follows a day, and a killed run
resumes from the station-days it finished (prediction/archive.py,
chunk_store.py). The logic is in techtonics.prediction (predictor.py,
inputs.py, continuous.py).

Across machines: --num_shards=N --shard_index=I (or a Slurm array's
variables) predict one contiguous share of the input into
OUTPUT_DIR/shard-IIIII-of-NNNNN/; --merge=DIR joins the shards into what one
machine would have written (prediction/sharding.py, merge.py;
tools/slurm/predict_array.sbatch).
"""

from absl import flags

from techtonics.core import errors, options
from techtonics.prediction import inputs, merge, predictor, sharding

flags.DEFINE_multi_string(
    "model", None, "An exported model directory (a model directory's export/); repeat for more."
)
flags.DEFINE_string("output_dir", None, "Where predictions.csv, detections.csv and figures go.")
options.define_flags(inputs.SourceConfig)
options.define_flags(predictor.PredictConfig)
options.define_flags(sharding.ShardConfig)
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def main(argv):
    """Predicts (or merges shards) and prints a summary line and where the outputs are."""
    del argv
    machines = options.from_flags(sharding.ShardConfig)
    source_config = options.from_flags(inputs.SourceConfig)
    machines.check_job(source_config, FLAGS.model or ())
    if machines.merge:
        summary = merge.merge(list(machines.merge), FLAGS.output_dir)
    else:
        shard = machines.shard()
        config = options.from_flags(
            predictor.PredictConfig, models=tuple(FLAGS.model), output_dir=shard.output_dir(FLAGS.output_dir)
        )
        summary = predictor.predict(config, source_config.source(config.stride, config.fill_gaps, shard))
    print(f"predictions: {summary['predictions_csv']}")
    if "detections_csv" in summary:
        print(f"detections:  {summary['detections_csv']}")
        if "detections_xml" in summary:
            print(f"QuakeML:     {summary['detections_xml']}")
        if "picks_csv" in summary:
            print(f"picks:       {summary['picks_csv']}")
        if summary["figures"]:
            count = len(summary["figures"])
            where = summary["figures"][0].rsplit("/", 1)[0]
            print(f"figures:     {where}/ ({count} station{'' if count == 1 else 's'})")


if __name__ == "__main__":
    errors.run(main)
