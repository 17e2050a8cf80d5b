"""The picker: P, S and noise probabilities at every sample of the raw waveform (PhaseNet's design), a task
beside the original's classifier and regressors.

    python -m techtonics.train --flagfile=configs/picking.flags --records=... --model_dir=...

It is labelled, as PhaseNet and SeisBench's pick-benchmark train it, with a
Gaussian of SIGMA_SAMPLES around each known arrival (P and S), noise where
neither is, each sample's labels summing to 1; a trace without arrivals is
noise throughout. The labels are made from the record's arrival fields in
graph, after any augmentation, so they follow a shift exactly as an arrival
regressor's targets do (an arrival pushed out of the window is none).

Its export answers `phase_probabilities` (batch, 6000, 3) and `picks`
(batch, 5): PICK_COLUMNS, the whole window's detection (the highest
earthquake probability, 1 - noise, at any sample), and each phase's pick
(its most probable sample) and probability. It declares them as outputs
(`Picking.outputs`), and the later stages read them by kind: prediction
writes the columns; evaluation scores the detection as the classifier's
(threshold of best F1 on validation) and the picks as onsets
(training/evaluation_kinds.py); the pick-benchmark reads the per-sample
probabilities inside its windows (benchmark/scoring.py).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tf_keras

from techtonics.data import stead
from techtonics.model import unet
from techtonics.training.task_base import Output, Task

SIGMA_SAMPLES = 20.0  # the label's Gaussian around an arrival: 0.2 s at 100 Hz (SeisBench's PhaseNet)
PICK_COLUMNS = ("p_earthquake", "p_arrival_sample", "p_probability", "s_arrival_sample", "s_probability")


def _picks(probabilities: tf.Tensor) -> tf.Tensor:
    """(batch, 6000, 3) probabilities -> (batch, 5) PICK_COLUMNS."""
    p, s, noise = tf.unstack(probabilities, axis=-1)

    def pick(phase):
        return tf.cast(tf.argmax(phase, axis=1), tf.float32), tf.reduce_max(phase, axis=1)

    return tf.stack([tf.reduce_max(1.0 - noise, axis=1), *pick(p), *pick(s)], axis=1)


class Picking(Task):
    """Per-sample phase probabilities of every trace (noise traces are noise throughout)."""

    name = "picking"
    default_dropout = 0.1
    monitor = ("val_loss", "min")
    truth_field = "p_arrival_sample"
    output_name = "picks"
    filters_examples = False
    head = "unet"
    reads_image = False  # it reads the raw waveform
    phase_probabilities = "phase_probabilities"  # what the export calls its per-sample probabilities

    def describe(self):
        return "picking of P and S"

    def example_count(self, converted, split):
        return converted.count(split)

    def label(self, features, normalization):
        t = tf.range(stead.TRACE_SAMPLES, dtype=tf.float32)[tf.newaxis, :]

        def bump(onset):  # a Gaussian around each known onset; none where it is unknown (NaN)
            onset = tf.cast(onset, tf.float32)[:, tf.newaxis]
            known = tf.math.is_finite(onset)
            return tf.where(
                known, tf.exp(-0.5 * tf.square((t - tf.where(known, onset, 0.0)) / SIGMA_SAMPLES)), 0.0
            )

        p, s = bump(features["p_arrival_sample"]), bump(features["s_arrival_sample"])
        labels = tf.stack([p, s, tf.maximum(1.0 - p - s, 0.0)], axis=-1)
        return labels / tf.reduce_sum(labels, axis=-1, keepdims=True)

    def build_model(self, config):
        dropout = self.default_dropout if config.dropout is None else config.dropout
        return unet.build(dropout=dropout, output_name=self.phase_probabilities, name="techtonics_picking")

    def build_losses(self):
        return tf_keras.losses.CategoricalCrossentropy()

    def build_metrics(self):
        return []

    def export_info(self, normalization):
        # The picker reads every channel, whatever --image_channels says of the original's image.
        return {
            "task": self.name,
            "phases": list(unet.PHASES),
            "sigma_samples": SIGMA_SAMPLES,
            "image_channels": "".join(stead.CHANNELS),
        }

    def serving(self, info):
        return lambda output: {self.output_name: _picks(output), self.phase_probabilities: output}

    def outputs(self):
        answers = dict(  # each pick of a detection comes from the window most sure of it
            p_earthquake=Output("earthquake_probability", self.output_name, truth="label"),
            p_arrival_sample=Output(
                "arrival", self.output_name, truth="p_arrival_sample", phase="P", confidence="p_probability"
            ),
            p_probability=Output("value", self.output_name, confidence="p_probability"),
            s_arrival_sample=Output(
                "arrival", self.output_name, truth="s_arrival_sample", phase="S", confidence="s_probability"
            ),
            s_probability=Output("value", self.output_name, confidence="s_probability"),
        )
        return {
            **{name: dataclasses.replace(o, column=PICK_COLUMNS.index(name)) for name, o in answers.items()},
            self.phase_probabilities: Output("phase_probabilities", self.phase_probabilities),
        }
