"""The augmented training step: batches arrive as records parsed, and are augmented and labelled inside the
step, on the accelerator where there is one.

Augmentation is whole-batch tensor work on (batch, 6000, 3) floats, several
times the cost of parsing the batch: in the input pipeline it held the
pipeline to a third of its plain rate (docs/BENCHMARKS.md). In the step the
pipeline keeps its rate, and the step does the work with the model's device.
The pipeline keeps the examples the task reads (input_pipeline.dataset) and
brings augmentation.FIELDS, the task's truth, a seed, noise traces and class
weights; the step augments them (augmentation.augment), and the task labels
what the augmentation made. A target the shift pushed out of the window is
unknown: its example weighs nothing in the loss, since the batch cannot
shrink inside the step.
"""

from __future__ import annotations

import functools

import tensorflow as tf
import tf_keras

from techtonics.training import augmentation
from techtonics.training.tasks import Task


def training_batch(
    features: dict, augment: augmentation.AugmentConfig, task: Task, normalization: tuple[float, float]
):
    """(waveform, label, weight) for Keras's train_step from the augmented pipeline's batch.

    weight: the example's class weight (`weight`, or 1), 0 where the
    augmentation made the label unknown, and scaled by the batch's examples
    over those with a label: the loss stays the mean over the examples with
    a label, as when the pipeline dropped the others.
    """
    features = augmentation.augment(features, features["seed"], augment)
    label = task.label(features, normalization)
    count = tf.shape(label)[0]
    finite = tf.math.is_finite(tf.cast(label, tf.float32))
    known = tf.cast(tf.reduce_all(tf.reshape(finite, [count, -1]), axis=1), tf.float32)
    weight = features.get("weight", tf.ones([count])) * known
    weight *= tf.cast(count, tf.float32) / tf.maximum(tf.reduce_sum(known), 1.0)
    return features["waveform"], tf.where(finite, label, tf.zeros_like(label)), weight


class _AugmentingModel(tf_keras.Model):
    """A functional model whose training step makes its batch first; its layers, weights and checkpoints
    are the model's, so best/, checkpoints/ and the export read them as any other model's."""

    def __init__(self, *args, make_batch, **kwargs):
        super().__init__(*args, **kwargs)
        self._make_batch = make_batch

    def train_step(self, data):
        return super().train_step(self._make_batch(data))


def with_augmentation(
    model: tf_keras.Model,
    augment: augmentation.AugmentConfig,
    task: Task,
    normalization: tuple[float, float],
) -> tf_keras.Model:
    """The model (uncompiled, its layers shared) with training batches augmented in its step."""
    make_batch = functools.partial(training_batch, augment=augment, task=task, normalization=normalization)
    return _AugmentingModel(
        inputs=model.inputs, outputs=model.outputs, name=model.name, make_batch=make_batch
    )
