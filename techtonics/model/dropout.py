"""Dropout that a resumed run repeats: each training step's mask is drawn from (seed, step).

Keras's Dropout draws from the state of a stateful random op, which no
checkpoint saves and a new process restarts: a run resumed from its backup
dropped other units than the run that was not killed, and ended with other
weights. Here the step is a variable of the layer, so the backup, the
per-epoch checkpoints and the export hold it, and a resumed run draws the
masks the uninterrupted run draws.
"""

from __future__ import annotations

import random

import tensorflow as tf
import tf_keras


class StepDropout(tf_keras.layers.Layer):
    """Dropout (inverted, as Keras's) with a mask that is a function of (seed, training step, replica).

    seed: None draws one from Python's generator, which tf_keras.utils.set_random_seed seeds, as Keras's
    own layers draw theirs.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = random.randint(1, 10**9 - 1) if seed is None else seed

    def build(self, input_shape):
        # Every replica counts the same steps: the first one's count is every one's.
        self.step = self.add_weight(
            name="step",
            shape=(),
            dtype=tf.int64,
            initializer="zeros",
            trainable=False,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        super().build(input_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context else 0
        seed = tf.random.experimental.stateless_fold_in(
            tf.stack([tf.constant(self.seed, tf.int64), self.step.read_value()]), replica
        )
        dropped = tf.nn.experimental.stateless_dropout(inputs, self.rate, seed)
        self.step.assign_add(1)  # after the read above: a tf.function runs a variable's ops in order
        return dropped

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
