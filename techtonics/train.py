"""Trains a TECHTONICS CNN: `python -m techtonics.train --flagfile=configs/<job>.flags`.

    python -m techtonics.train --flagfile=configs/classification.flags \\
        --records=/data/stead-tfrecords --model_dir=/models/classification

The flags are written to MODEL_DIR/flags.txt; running the same command again
resumes the job at its last completed epoch (trainer.py lists what the
directory holds). Errors in flags or data end the run with one line.
"""

import sys

import tensorflow as tf
from absl import app, flags, logging

from techtonics import distribute, models, records, splits, trainer
from techtonics.spectrogram import SpectrogramConfig

_DEFAULT = trainer.TrainConfig(records="")
_IMAGE = SpectrogramConfig()

flags.DEFINE_string("records", None, "Converted dataset: its directory or manifest.json (local, gs://, s3://).")
flags.DEFINE_string("model_dir", None, "Where checkpoints, logs, the export and figures go; resumed if it exists.")
flags.DEFINE_enum("task", _DEFAULT.task, models.TASKS, "What the model learns.")
flags.DEFINE_enum("target", _DEFAULT.target, records.TARGETS, "Regression target (task=regression).")
flags.DEFINE_integer("epochs", _DEFAULT.epochs, "Epochs in all (a resumed run trains only the rest).")
flags.DEFINE_integer("steps_per_epoch", _DEFAULT.steps_per_epoch, "Cap on steps per epoch; 0: a full pass.")
flags.DEFINE_integer("batch_size", _DEFAULT.batch_size, "Global batch size, split over all replicas.")
flags.DEFINE_float("learning_rate", _DEFAULT.learning_rate, "Adam's learning rate.")
flags.DEFINE_float("dropout", None, "Dropout after pooling; default 0.25 (classification) or 0.5 (regression).")
flags.DEFINE_integer("seed", _DEFAULT.seed, "Seed of weights, dropout and shuffling.")
flags.DEFINE_enum("strategy", _DEFAULT.strategy, distribute.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_enum("collective", _DEFAULT.collective, distribute.COLLECTIVES, "All-reduce implementation: NCCL or ring (multi_worker); NCCL or hierarchical copy (mirrored).")
flags.DEFINE_bool("jit_compile", _DEFAULT.jit_compile, "Compile the training step with XLA.")
flags.DEFINE_enum("precision", _DEFAULT.precision, trainer.PRECISIONS, "Keras dtype policy.")
flags.DEFINE_integer("steps_per_execution", _DEFAULT.steps_per_execution, "Training steps per tf.function call.")
flags.DEFINE_integer("shuffle_buffer", _DEFAULT.shuffle_buffer, "Examples in the shuffle buffer.")
flags.DEFINE_string("cache", _DEFAULT.cache, "Cache records after the first epoch: '', 'memory' or a file prefix.")
flags.DEFINE_bool("deterministic", _DEFAULT.deterministic, "Fixed input order and deterministic ops (slower).")
flags.DEFINE_integer("parallel_reads", _DEFAULT.parallel_reads, "Shards read at once.")
flags.DEFINE_string("data_service_address", _DEFAULT.data_service, "tf.data service dispatcher (grpc://host:port) that prepares the training batches; '' to read in the trainer.")
flags.DEFINE_integer("image_height", _IMAGE.height, "Spectrogram image rows (frequency).")
flags.DEFINE_integer("image_width", _IMAGE.width, "Spectrogram image columns (time).")
flags.DEFINE_string("image_channels", _IMAGE.channels, "Waveform channels made into image channels: Z or ENZ.")
flags.DEFINE_integer("nfft", _IMAGE.nfft, "Samples per FFT window.")
flags.DEFINE_integer("hop", _IMAGE.hop, "Samples between FFT windows (nfft - overlap).")
flags.DEFINE_float("db_min", _IMAGE.db_min, "Power (dB) shown as black.")
flags.DEFINE_float("db_max", _IMAGE.db_max, "Power (dB) shown as white.")
flags.DEFINE_enum("evaluate_split", "test", [*splits.SPLITS, "none"], "Split to evaluate at the end.")
flags.mark_flags_as_required(["records", "model_dir"])

FLAGS = flags.FLAGS


def config_from_flags() -> trainer.TrainConfig:
    """The TrainConfig the flags describe; bad values raise ValueError naming the flag."""
    f = FLAGS
    image = SpectrogramConfig(f.image_height, f.image_width, f.image_channels, f.nfft, f.hop, f.db_min, f.db_max)
    return trainer.TrainConfig(
        records=f.records,
        task=f.task,
        target=f.target,
        image=image,
        dropout=f.dropout,
        epochs=f.epochs,
        batch_size=f.batch_size,
        learning_rate=f.learning_rate,
        seed=f.seed,
        strategy=f.strategy,
        collective=f.collective,
        jit_compile=f.jit_compile,
        precision=f.precision,
        steps_per_execution=f.steps_per_execution,
        steps_per_epoch=f.steps_per_epoch,
        shuffle_buffer=f.shuffle_buffer,
        cache=f.cache,
        deterministic=f.deterministic,
        parallel_reads=f.parallel_reads,
        data_service=f.data_service_address,
        evaluate_split="" if f.evaluate_split == "none" else f.evaluate_split,
    )


def main(argv):
    """Trains, exports and evaluates; prints where the results are."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines (checkpoint sharding, saving) bury progress
    try:
        result = trainer.train_and_evaluate(config_from_flags(), FLAGS.model_dir, FLAGS.flags_into_string())
    except (ValueError, trainer.TrainingError, tf.errors.OpError) as e:
        message = e.message if isinstance(e, tf.errors.OpError) else str(e)
        print(f"error: {message.splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    if result["export"]:
        print(f"exported model: {result['export']}")
    if result["metrics"]:
        print(f"{FLAGS.evaluate_split} metrics: {FLAGS.model_dir}/eval/{FLAGS.evaluate_split}/metrics.json")


if __name__ == "__main__":
    app.run(main)
