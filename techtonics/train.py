"""Trains a TECHTONICS CNN: `python -m techtonics.train --flagfile=configs/<job>.flags`.

    python -m techtonics.train --flagfile=configs/classification.flags \\
        --records=/data/stead-tfrecords --model_dir=/models/classification

Every option is declared once, in training/trainer.py's TrainConfig and the configs it
nests (techtonics.core.options); this file only adds the two paths. The flags are
written to MODEL_DIR/flags.txt; running the same command again resumes the
job at its last completed epoch (trainer.py lists what the directory holds).
"""

from absl import flags, logging

from techtonics.core import errors, options
from techtonics.training import trainer

flags.DEFINE_string(
    "records",
    None,
    "Converted dataset: its directory or manifest.json (local, gs://, s3:// with the s3 extra).",
)
flags.DEFINE_string(
    "model_dir", None, "Where checkpoints, logs, the export and figures go; resumed if it exists."
)
options.define_flags(trainer.TrainConfig)
flags.mark_flags_as_required(["records", "model_dir"])
FLAGS = flags.FLAGS


def main(argv):
    """Trains, exports and evaluates; prints where the results are."""
    del argv
    logging.set_verbosity(
        logging.WARNING
    )  # TensorFlow's INFO lines (checkpoint sharding, saving) bury progress
    config = options.from_flags(trainer.TrainConfig, records=FLAGS.records)
    result = trainer.train_and_evaluate(config, FLAGS.model_dir, FLAGS.flags_into_string())
    if result.export:
        print(f"exported model: {result.export}")
    if result.metrics:
        print(f"{config.evaluate_split} metrics: {FLAGS.model_dir}/eval/{config.evaluate_split}/metrics.json")


if __name__ == "__main__":
    errors.run(main)
