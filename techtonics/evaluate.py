"""Evaluates a trained model on a split: `python -m techtonics.evaluate --model_dir=DIR --split=test`.

Runs the model directory's export over every example of the split with the
input settings it was trained with, and writes MODEL_DIR/eval/SPLIT/
metrics.json and figures (training/evaluation.py). The trainer does this at
the end for --evaluate_split; run it again for another split or dataset.
"""

import json

from absl import flags

from techtonics.core import errors, fileio
from techtonics.data import splits
from techtonics.training import trainer

flags.DEFINE_string("model_dir", None, "A trained model directory (with export/ and config.json).")
flags.DEFINE_enum("split", "test", list(splits.SPLITS), "Split to evaluate.")
flags.DEFINE_string("records", "", "A converted dataset to read instead of the one the model was trained on.")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS


def main(argv):
    """Evaluates one split and prints its metrics and where the figures are."""
    del argv
    metrics = trainer.evaluate_model_dir(FLAGS.model_dir, FLAGS.split, FLAGS.records)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"figures in {fileio.join(FLAGS.model_dir, 'eval', FLAGS.split)}")


if __name__ == "__main__":
    errors.run(main)
