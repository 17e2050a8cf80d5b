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
(its most probable sample) and probability. Prediction writes those as
columns; the pick-benchmark reads the per-sample probabilities inside its
windows (benchmark/scoring.py). Evaluation scores the detection as the
classifier's (threshold of best F1 on validation) and the picks' residuals.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics.data import stead
from techtonics.model import unet
from techtonics.training import figures, metrics
from techtonics.training.task_base import Output, Task, detection_metrics

SIGMA_SAMPLES = 20.0  # the label's Gaussian around an arrival: 0.2 s at 100 Hz (SeisBench's PhaseNet)
PICK_COLUMNS = ("p_earthquake", "p_arrival_sample", "p_probability", "s_arrival_sample", "s_probability")
GOOD_PICK_S = 0.1  # the field's "good pick": within this of the analyst's


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
    chooses_threshold = True
    head = "unet"
    phase_probabilities = "phase_probabilities"

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

    def truth(self, metadata):
        return np.stack(
            [metadata["label"], metadata["p_arrival_sample"], metadata["s_arrival_sample"]], axis=1
        ).astype(np.float64)

    @staticmethod
    def _residuals(truth, predicted) -> dict[str, np.ndarray]:
        """Each phase's pick - onset in seconds, over the earthquakes that have the onset."""
        rate = stead.SAMPLING_RATE_HZ
        return {
            phase: (predicted[known, column] - truth[known, onset]) / rate
            for phase, onset, column in (("P", 1, 1), ("S", 2, 3))
            for known in [(truth[:, 0] == stead.EARTHQUAKE_CLASS) & np.isfinite(truth[:, onset])]
        }

    @staticmethod
    def _detection(predicted) -> np.ndarray:
        return np.stack([1.0 - predicted[:, 0], predicted[:, 0]], axis=1)

    def evaluate(self, truth, predicted, metadata, out_dir, validation=None):
        labels = truth[:, 0].astype(np.int64)
        if validation:
            validation = (validation[0][:, 0].astype(np.int64), self._detection(validation[1]))
        task_metrics, paths = detection_metrics(labels, self._detection(predicted), out_dir, validation)
        residuals = self._residuals(truth, predicted)
        for phase, residual in residuals.items():
            task_metrics[f"{phase}_onset"] = {"picks": int(residual.size)}
            if residual.size:  # a split without this phase has no figures for it
                mean, rms, mae = metrics.residual_summary(residual)
                good_share = float(np.mean(np.abs(residual) <= GOOD_PICK_S))
                task_metrics[f"{phase}_onset"].update(
                    mean_s=mean, rmse_s=rms, mae_s=mae, good_share=good_share
                )
        paths.append(figures.onset_residuals(residuals, "test split", out_dir))
        return task_metrics, paths

    def position_metrics(self, truth, predicted, task_metrics):
        threshold = task_metrics["threshold"]["value"] if "threshold" in task_metrics else 0.5
        earthquake = truth[:, 0] == stead.EARTHQUAKE_CLASS
        p = self._residuals(truth, predicted)["P"]
        return {
            "recall": float(np.mean(predicted[earthquake, 0] >= threshold)),
            "p_mae_s": float(np.mean(np.abs(p))) if p.size else float("nan"),
        }

    def grid_quota(self):
        return {}  # no image to show

    def grid_text(self, truth, predicted):
        return "", ""

    def summary(self, task_metrics):
        onsets = ", ".join(
            f"{phase} MAE {task_metrics[f'{phase}_onset']['mae_s']:.3f} s "
            f"({task_metrics[f'{phase}_onset']['good_share']:.0%} within {GOOD_PICK_S} s)"
            for phase in ("P", "S")
            if task_metrics[f"{phase}_onset"]["picks"]
        )
        return f"detection f1 {task_metrics['f1']:.3f}, roc_auc {task_metrics['roc_auc']:.3f}; {onsets}"

    def outputs(self, model_name):
        p, s = f"{model_name}.p_probability", f"{model_name}.s_probability"
        kinds = (  # a detection reports each pick and its probability from the window most sure of it
            Output("earthquake_probability"),
            Output("arrival", "P", confidence=p),
            Output("value", confidence=p),
            Output("arrival", "S", confidence=s),
            Output("value", confidence=s),
        )
        return {f"{model_name}.{c}": kind for c, kind in zip(PICK_COLUMNS, kinds)}

    def prediction_values(self, model_name, answer):
        picks = answer[self.output_name]
        return {f"{model_name}.{c}": picks[:, i] for i, c in enumerate(PICK_COLUMNS)}
