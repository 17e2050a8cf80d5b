"""Scores exported models as the field scores them: `python -m techtonics.pick_benchmark`.

    python -m techtonics.pick_benchmark --model=models/classification/export \\
        --model=models/p_arrival/export --seisbench_dir=/data/stead-seisbench --output_dir=/tmp/pick-benchmark
    python -m techtonics.pick_benchmark --model=models/classification/export --stead_dir=/data/STEAD \\
        --records=/data/stead-tfrecords --output_dir=/tmp/pick-benchmark
    python -m techtonics.pick_benchmark --model=... --seisbench_dir=... --targets=/data/targets/stead \\
        --output_dir=...

SeisBench's pick-benchmark: task 1 (detection in 30 s windows), task 2
(is a 10 s window's onset P or S) and task 3 (its onset time), on the dev
and test splits, thresholds chosen on dev. Writes OUTPUT_DIR/<model>/
{dev,test}_task1.csv and {dev,test}_task23.csv in the field's columns,
benchmark.json with the field's metric names, figures, and benchmark.md;
without --targets, the targets it made in OUTPUT_DIR/targets/. The logic is
in techtonics.benchmark (targets, data, scoring, metrics, report, run).
"""

from absl import flags

from techtonics.benchmark import run
from techtonics.core import errors, options

flags.DEFINE_multi_string(
    "model", None, "An exported model directory (a model directory's export/); repeat for more."
)
flags.DEFINE_string("output_dir", None, "Where the targets, each model's predictions and metrics go.")
options.define_flags(run.BenchmarkConfig)
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def main(argv):
    """Scores the models and prints the table."""
    del argv
    config = options.from_flags(
        run.BenchmarkConfig, models=tuple(FLAGS.model or ()), output_dir=FLAGS.output_dir
    )
    summary = run.run(config)
    print(f"table:       {summary['benchmark_md']}")


if __name__ == "__main__":
    errors.run(main)
